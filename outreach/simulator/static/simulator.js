// Phone simulator: talks to our USSD callback exactly as Africa's Talking would.
// Kept in a static file because the Content-Security-Policy forbids inline script.
"use strict";

(function () {
  const root = document.getElementById("simulator");
  if (!root) {
    return;
  }
  const byId = (id) => document.getElementById(id);
  const handset = byId("handset");
  const phone = byId("phone");
  const dial = byId("dial");
  const screen = byId("screen");
  const answerForm = byId("answer-form");
  const answer = byId("answer");
  const send = byId("send");
  const hangup = byId("hangup");
  const callStatus = byId("call-status");
  const inbox = byId("inbox");

  const config = {
    callbackUrl: root.dataset.callbackUrl,
    eventsUrl: root.dataset.eventsUrl || "",
    callbackKey: root.dataset.callbackKey || "",
    serviceCode: root.dataset.serviceCode || "",
    inboxUrl: root.dataset.inboxUrl,
  };

  // AT drops a hop that takes longer than about 15 s; the simulator gives up at the same point.
  const HOP_TIMEOUT_MS = 15000;
  const INBOX_REFRESH_MS = 2000;
  // The code the AT sandbox sends, so sessions from the simulator are recognisable in logs.
  const NETWORK_CODE = "99999";

  let call = null;

  function newSessionId() {
    // getRandomValues, unlike randomUUID, also works when the page is served over plain http.
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "SIM_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function setState(state) {
    handset.dataset.state = state;
    const active = state === "active";
    const inCall = active || state === "busy";
    answer.disabled = !active;
    send.disabled = !active;
    hangup.disabled = !inCall;
    dial.disabled = inCall;
    // The number is fixed for the life of a session, as on a real handset.
    phone.readOnly = inCall;
    dial.textContent = state === "ended" ? "Nouvel appel" : "Appeler";
    if (active) {
      answer.focus();
    } else if (state === "ended") {
      dial.focus();
    }
  }

  function showScreen(text, kind) {
    screen.textContent = text;
    screen.dataset.kind = kind;
  }

  function withKey(url) {
    if (!config.callbackKey) {
      return url;
    }
    return url + "?key=" + encodeURIComponent(config.callbackKey);
  }

  function callbackUrl() {
    return withKey(config.callbackUrl);
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function atDate(moment) {
    return moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
      " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes()) + ":" + pad(moment.getSeconds());
  }

  // AT's end-of-session notification: "Success" after an END screen, "Incomplete" when
  // the caller hangs up mid-flow. Best effort, as AT's own: nothing waits for it.
  function postEndOfSession(current, status, lastReply) {
    if (!config.eventsUrl) {
      return;
    }
    const body = new URLSearchParams({
      date: atDate(new Date()),
      sessionId: current.sessionId,
      serviceCode: config.serviceCode,
      networkCode: NETWORK_CODE,
      phoneNumber: current.phoneNumber,
      status: status,
      cost: "XOF 0",
      durationInMillis: String(Date.now() - current.startedAt),
      hopsCount: String(current.answers.length + 1),
      input: current.answers.join("*"),
      lastAppResponse: lastReply || "",
      errorMessage: "",
    });
    fetch(withKey(config.eventsUrl), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8" },
      body: body,
      cache: "no-store",
      credentials: "same-origin",
    }).catch(() => {});
  }

  function parseReply(body) {
    // AT is this strict: a missing prefix or a leading space ends the session with an error.
    const text = body.replace(/\r\n/g, "\n");
    if (text.startsWith("CON ")) {
      return { screen: text.slice(4), final: false };
    }
    if (text.startsWith("END ")) {
      return { screen: text.slice(4), final: true };
    }
    return null;
  }

  async function post(current, text) {
    const body = new URLSearchParams({
      sessionId: current.sessionId,
      serviceCode: config.serviceCode,
      phoneNumber: current.phoneNumber,
      networkCode: NETWORK_CODE,
      text: text,
    });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), HOP_TIMEOUT_MS);
    try {
      const response = await fetch(callbackUrl(), {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8" },
        body: body,
        cache: "no-store",
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) {
        return { error: "Erreur de connexion", detail: "Le service a répondu HTTP " + response.status + "." };
      }
      const raw = await response.text();
      const reply = parseReply(raw);
      if (reply === null) {
        const detail = raw ? "La réponse ne commence ni par « CON » ni par « END »." : "Réponse vide.";
        return { error: "Réponse invalide du service", detail: detail };
      }
      return reply;
    } catch (err) {
      const detail = controller.signal.aborted
        ? "Pas de réponse en " + HOP_TIMEOUT_MS / 1000 + " s."
        : "Le service est injoignable.";
      return { error: "Erreur de connexion", detail: detail };
    } finally {
      clearTimeout(timer);
    }
  }

  async function hop(text) {
    const current = call;
    setState("busy");
    callStatus.textContent = "Connexion…";
    const result = await post(current, text);
    if (call !== current) {
      // Hung up while the request was in flight: the late answer belongs to no one.
      return;
    }
    if (result.error) {
      call = null;
      showScreen(result.error, "error");
      callStatus.textContent = result.detail;
      setState("ended");
    } else if (result.final) {
      call = null;
      postEndOfSession(current, "Success", "END " + result.screen);
      showScreen(result.screen, "final");
      callStatus.textContent = "Session terminée.";
      setState("ended");
    } else {
      current.lastReply = "CON " + result.screen;
      showScreen(result.screen, "menu");
      callStatus.textContent = "Session en cours (" + current.answers.length + " réponse(s)).";
      setState("active");
    }
  }

  function startCall() {
    if (dial.disabled) {
      return;
    }
    const number = phone.value.trim();
    if (!number) {
      callStatus.textContent = "Saisissez un numéro de téléphone.";
      phone.focus();
      return;
    }
    // Sent as typed: normalising is the server's job, and the simulator must exercise it.
    call = {
      sessionId: newSessionId(),
      phoneNumber: number,
      answers: [],
      startedAt: Date.now(),
      lastReply: "",
    };
    answer.value = "";
    showScreen("Appel de " + config.serviceCode + "…", "dialing");
    hop("");
  }

  function sendAnswer(event) {
    event.preventDefault();
    if (!call || send.disabled) {
      return;
    }
    const value = answer.value.trim();
    if (!value) {
      answer.focus();
      return;
    }
    call.answers.push(value);
    answer.value = "";
    hop(call.answers.join("*"));
  }

  function hangUp() {
    if (!call) {
      return;
    }
    postEndOfSession(call, "Incomplete", call.lastReply);
    call = null;
    showScreen("Appel terminé.", "final");
    callStatus.textContent = "Vous avez raccroché.";
    setState("ended");
  }

  // Inbox: a server-rendered fragment, polled while the page is visible.
  let inboxRequest = 0;
  let lastInboxHtml = null;

  function renderInbox(html) {
    if (html !== lastInboxHtml) {
      inbox.innerHTML = html;
      lastInboxHtml = html;
    }
  }

  function inboxNote(text) {
    const note = document.createElement("p");
    note.className = "inbox-note inbox-problem";
    note.textContent = text;
    inbox.replaceChildren(note);
    lastInboxHtml = null;
  }

  async function refreshInbox() {
    const ticket = ++inboxRequest;
    const url = config.inboxUrl + "?phone=" + encodeURIComponent(phone.value.trim());
    try {
      const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
      const html = response.ok ? await response.text() : null;
      // A newer request (the number was edited meanwhile) wins over a slow older one.
      if (ticket !== inboxRequest) {
        return;
      }
      if (html === null) {
        inboxNote("Boîte de réception indisponible (HTTP " + response.status + ").");
      } else {
        renderInbox(html);
      }
    } catch (err) {
      if (ticket === inboxRequest) {
        inboxNote("Serveur injoignable.");
      }
    }
  }

  let phoneDebounce = null;
  function onPhoneInput() {
    clearTimeout(phoneDebounce);
    phoneDebounce = setTimeout(refreshInbox, 300);
  }

  dial.addEventListener("click", startCall);
  phone.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      startCall();
    }
  });
  phone.addEventListener("input", onPhoneInput);
  answerForm.addEventListener("submit", sendAnswer);
  hangup.addEventListener("click", hangUp);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      refreshInbox();
    }
  });
  setInterval(() => {
    if (!document.hidden) {
      refreshInbox();
    }
  }, INBOX_REFRESH_MS);

  setState("idle");
  refreshInbox();
})();
