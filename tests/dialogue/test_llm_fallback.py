"""The runtime with the openai provider against a real OpenAI-compatible HTTP server on loopback.

Failures (HTTP 500, a stall past the time-out, connection refused) must give an authored fallback
line and a typed warning, never silence, and never delay other conversations.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from dialogue.fake_openai_server import FakeOpenAIServer, HttpError, Stall, text_reply, tool_reply

from npc_runtime.protocol.messages import WarningMessage
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def _llm_settings(make_settings: Callable[..., Settings], base_url: str) -> Settings:
    return make_settings(
        dialogue={
            "provider": "openai",
            "base_url": base_url,
            "model": "test-model",
            "api_key_env": "NO_SUCH_KEY_ENV",
            "timeout": 3.0,
            "first_token_timeout": 1.0,
            "connect_timeout": 1.0,
            "max_retries": 0,
        }
    )


@pytest.fixture
async def llm_client(
    make_settings: Callable[..., Settings], llm: FakeOpenAIServer
) -> AsyncIterator[AsyncClient]:
    runtime = Runtime(_llm_settings(make_settings, llm.base_url))
    await runtime.start()
    client = AsyncClient(runtime.endpoint)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
        await runtime.stop()


async def test_llm_reply_streams_through_the_runtime(llm_client: AsyncClient, llm: FakeOpenAIServer) -> None:
    llm.script(text_reply("Rain's coming, ", "love. ", "*wipes the bar* Feel it in my knees."))
    conv = (await llm_client.start_conversation("mira", greet=False)).conversation_id
    deltas: list[str] = []
    final = await llm_client.say(conv, "what do you think of the weather today?", on_delta=deltas.append)
    assert final.source == "llm"
    assert "".join(deltas) == final.text
    assert "Rain's coming" in final.text and "*" not in final.text and "wipes" not in final.text
    prompt = llm.requests[-1].prompt_text
    assert "Mira Thornwood" in prompt and "weather" in prompt


async def test_strong_authored_match_wins_over_the_llm(
    llm_client: AsyncClient, llm: FakeOpenAIServer
) -> None:
    conv = (await llm_client.start_conversation("mira", greet=False)).conversation_id
    final = await llm_client.say(conv, "do you have a room")
    assert final.source == "authored"
    assert llm.requests == []


@pytest.mark.parametrize(
    ("reply", "code"), [(HttpError(500), "provider_failed"), (Stall(), "provider_timeout")]
)
async def test_provider_failure_gives_fallback_and_warning(
    llm_client: AsyncClient, llm: FakeOpenAIServer, reply: object, code: str
) -> None:
    llm.script(reply)  # type: ignore[arg-type]
    conv = (await llm_client.start_conversation("bram", greet=False)).conversation_id
    final = await llm_client.say(conv, "what do you think of the king's new taxes?")
    assert final.source == "fallback" and final.text
    warning = await llm_client.next_event(types=("warning",))
    assert isinstance(warning, WarningMessage) and warning.code == code and warning.conversation_id == conv
    # the runtime keeps serving: the next turn works
    llm.script(text_reply("Taxes. Hm."))
    assert (await llm_client.say(conv, "and the harvest this year?")).text == "Taxes. Hm."


async def test_connection_refused_gives_fallback(make_settings: Callable[..., Settings]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runtime = Runtime(_llm_settings(make_settings, f"http://127.0.0.1:{port}/v1"))
    await runtime.start()
    client = AsyncClient(runtime.endpoint)
    try:
        await client.connect()
        conv = (await client.start_conversation("elda", greet=False)).conversation_id
        final = await client.say(conv, "what lies beyond the mountains?")
        assert final.source == "fallback"
        warning = await client.next_event(types=("warning",))
        assert isinstance(warning, WarningMessage) and warning.code == "provider_failed"
    finally:
        await client.close()
        await runtime.stop()


async def test_stalled_llm_does_not_delay_other_conversations(
    llm_client: AsyncClient, llm: FakeOpenAIServer
) -> None:
    llm.script(Stall())
    slow = (await llm_client.start_conversation("tomas", greet=False)).conversation_id
    fast = (await llm_client.start_conversation("mira", greet=False)).conversation_id
    from npc_runtime.protocol.messages import PlayerText

    await llm_client.send(PlayerText(conversation_id=slow, text="tell me about the stars above"))
    # an authored answer in another conversation comes back while the first waits on the LLM
    final = await llm_client.say(fast, "any rooms free?", timeout=0.9)
    assert final.source == "authored"
    late = await llm_client.wait_final(slow, timeout=5)
    assert late.source == "fallback"


async def test_a_model_action_is_taken_only_when_its_choice_was_named_by_the_player_or_the_npc(
    llm_client: AsyncClient, llm: FakeOpenAIServer
) -> None:
    conv = (await llm_client.start_conversation("mira", greet=False)).conversation_id
    # Nobody spoke of ale: the model acts unasked, and the runtime says why it did not.
    llm.script(tool_reply("Here you are, love.", calls=[("serve_drink", '{"drink": "ale"}')]))
    final = await llm_client.say(conv, "I'm so thirsty.")
    assert final.source == "llm" and final.actions == []
    warning = await llm_client.next_event(types=("warning",))
    assert isinstance(warning, WarningMessage) and warning.code == "action_rejected"
    assert "nobody named its drink (drink=ale)" in warning.message
    # The NPC says what it pours: taken.
    llm.script(tool_reply("A cider for you, love.", calls=[("serve_drink", '{"drink": "cider"}')]))
    final = await llm_client.say(conv, "I'm still thirsty.")
    assert final.source == "llm"
    assert [(a.name, a.args) for a in final.actions] == [("serve_drink", {"drink": "cider"})]
