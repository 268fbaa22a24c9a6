-- wrk script for bench/load.py: CHW registrations posted as Africa's Talking posts them.
--
-- Each wrk thread keeps many sessions (4 per connection), each a CHW registering one
-- woman hop by hop (cumulative `text`), and hands out their next hops in turn; a session
-- that sent its last hop starts a new registration. `delay()` is the think time of a
-- connection between two requests: it caps the offered rate (see load.py).

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tonumber(wrk.thread:get("id"))
  chws = tonumber(args[1] or "1000")
  think_ms = tonumber(args[2] or "0")
  per_thread = tonumber(args[3] or "400")
  pin = args[4] or "1234"
  sessions = {}
  serial = thread_id * 10000000
  for i = 1, per_thread do
    sessions[i] = new_session(i)
  end
  next_index = 1
  ok, bad, non200 = 0, 0, 0
end

function new_session(i)
  serial = serial + 1
  local chw = ((thread_id - 1) * per_thread + i - 1) % chws
  local woman = string.format("76%06d", serial % 1000000)
  local name = "Awa " .. string.char(65 + serial % 26) .. string.format("%x", serial)
  return {
    id = "ATUid_load_" .. serial,
    phone = string.format("+2237%07d", 1000000 + chw),
    answers = {pin, "1", name, "1", woman, "2", tostring(8 + serial % 30), "1", "1", "2", "1", "1"},
    sent = 0,
  }
end

local function encode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  local s = sessions[next_index]
  local i = next_index
  next_index = next_index % per_thread + 1
  if s.sent > #s.answers then
    s = new_session(i)
    sessions[i] = s
  end
  local text = table.concat(s.answers, "*", 1, s.sent)
  if s.sent == 0 then text = "" end
  s.sent = s.sent + 1
  local body = "sessionId=" .. encode(s.id) .. "&serviceCode=" .. encode("*384*123#")
    .. "&phoneNumber=" .. encode(s.phone) .. "&networkCode=99999&text=" .. encode(text)
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function delay()
  return think_ms
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif body:sub(1, 4) == "CON " or body:sub(1, 4) == "END " then
    ok = ok + 1
  else
    bad = bad + 1
  end
  wrk.thread:set("ok", ok)
  wrk.thread:set("bad", bad)
  wrk.thread:set("non200", non200)
end

function done(summary, latency, requests)
  local ok_total, bad_total, non200_total = 0, 0, 0
  for _, t in ipairs(threads) do
    ok_total = ok_total + (tonumber(t:get("ok")) or 0)
    bad_total = bad_total + (tonumber(t:get("bad")) or 0)
    non200_total = non200_total + (tonumber(t:get("non200")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f ok=%d bad_screen=%d non200=%d connect=%d read=%d write=%d timeout=%d status=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, ok_total, bad_total, non200_total,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
