"""A burst of simultaneous hops, more than the API has threads and connections."""

from __future__ import annotations

import asyncio

import httpx
import pytest

pytestmark = pytest.mark.e2e

BURST = 300


def test_a_burst_of_first_hops_all_get_their_screen(stack, chw) -> None:
    # Given far more simultaneous callers than worker threads (40) and pooled connections
    async def dial(client: httpx.AsyncClient, i: int) -> str:
        response = await client.post(
            f"{stack.api_url}/callbacks/at/ussd",
            data={
                "sessionId": f"ATUid_burst_{i}",
                "serviceCode": "*384*123#",
                "phoneNumber": "+22370000001",
                "networkCode": "99999",
                "text": "",
            },
        )
        return f"{response.status_code} {response.text[:4]}"

    async def burst() -> list[str]:
        limits = httpx.Limits(max_connections=BURST)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(*(dial(client, i) for i in range(BURST)))

    # When they all dial at once
    replies = asyncio.run(burst())
    # Then every one gets the PIN screen: no request starves waiting for a connection
    # held by a request that waits for a thread to commit
    assert replies == ["200 CON "] * BURST
