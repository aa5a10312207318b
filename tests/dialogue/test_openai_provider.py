"""The ``openai`` provider against a real OpenAI-compatible HTTP server on loopback.

The server (``fake_openai_server``) runs in its own thread and speaks the streaming
chat-completions wire format (SSE over chunked HTTP/1.1); the provider uses the real ``openai``
client over real sockets. Nothing in the client is patched.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from dialogue.fake_openai_server import FakeOpenAIServer, HttpError, Stall, text_reply, tool_reply

from npc_runtime.dialogue.base import ActionProposal, DialogueChunk, SourceTag, TextPiece
from npc_runtime.dialogue.context import DialogueContext, HistoryEntry
from npc_runtime.dialogue.providers.openai import LOCAL_DUMMY_KEY, ActionLineParser, OpenAIProvider
from npc_runtime.errors import ConfigError, ProviderError
from npc_runtime.personas.schema import Persona

MIRA = Persona.model_validate(
    {
        "id": "mira",
        "name": "Mira Thornwood",
        "role": "innkeeper of the Gilded Goose",
        "knowledge": ["Wolves have been taking sheep from the eastern pastures."],
        "topics": [
            {
                "id": "secret",
                "phrasings": ["who opened the gate?"],
                "lines": ["Tomas took a bribe from the hooded man."],
                "when": "gate.bribe_known",
            }
        ],
        "fallback": ["Couldn't say, love."],
        "actions": [
            {
                "name": "serve_drink",
                "description": "Pour the player a drink.",
                "params": {"drink": {"type": "string", "enum": ["ale", "cider"]}},
            },
            {"name": "give_room_key", "params": {"room": {"type": "int", "min": 1, "max": 6}}},
            {"name": "open_cellar", "when": "cellar.unlocked"},
        ],
    }
)
# What another NPC knows (Elda's secret) must never reach Mira's prompt.
ELDA_SECRET = "The mill hides a tunnel to the Whisperwood."

ProviderFactory = Callable[..., OpenAIProvider]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
async def make_provider(server: FakeOpenAIServer) -> AsyncIterator[ProviderFactory]:
    made: list[OpenAIProvider] = []

    def make(**settings: Any) -> OpenAIProvider:
        env = settings.pop("environ", {"OPENAI_API_KEY": "sk-test-123"})
        base: dict[str, Any] = {
            "provider": "openai",
            "base_url": server.base_url,
            "model": "fake-npc-model",
            "first_token_timeout": 2.0,
            "timeout": 5.0,
            "connect_timeout": 1.0,
        }
        base.update(settings)
        p = OpenAIProvider.from_settings(base, environ=env)
        made.append(p)
        return p

    yield make
    for p in made:
        await p.aclose()


def _ctx(player_text: str = "Anything happening in the village?", **kw: Any) -> DialogueContext:
    holds: set[str] = kw.pop("holds", set())
    return DialogueContext(
        persona=MIRA,
        player_id="p1",
        player_text=player_text,
        world_facts=["The north gate is shut after dark."],
        world_state={"time_of_day": "evening"},
        condition=lambda expr: expr in holds,
        **kw,
    )


async def _collect(provider: OpenAIProvider, ctx: DialogueContext) -> list[DialogueChunk]:
    return [chunk async for chunk in provider.stream(ctx)]


def _text(chunks: list[DialogueChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextPiece))


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


# -- streaming --------------------------------------------------------------------------------------
async def test_deltas_stream_in_order_and_concatenate_to_the_reply(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    pieces = ["Wolves", " again,", " love.", " Took three", " sheep", " last night."]
    server.script(text_reply(*pieces))
    chunks = await _collect(make_provider(), _ctx())
    assert chunks[0] == SourceTag("llm")
    assert [c.text for c in chunks[1:] if isinstance(c, TextPiece)] == pieces
    assert _text(chunks) == "Wolves again, love. Took three sheep last night."
    assert all(isinstance(c, TextPiece) for c in chunks[1:])


async def test_pieces_arrive_before_the_reply_is_finished(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    # The server sends two deltas, then goes silent: both must reach us before the time-out,
    # which proves the reply is streamed, not buffered.
    server.script(text_reply("Hold", " on,", stall=True))
    provider = make_provider(first_token_timeout=0.4)
    got: list[DialogueChunk] = []
    with pytest.raises(ProviderError) as err:
        async for chunk in provider.stream(_ctx()):
            got.append(chunk)
    assert err.value.timeout
    assert got == [SourceTag("llm"), TextPiece("Hold"), TextPiece(" on,")]


async def test_output_hygiene_is_applied_to_the_stream(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(
        text_reply(
            "Mira", " Thornwood:", ' "*wipes the', " bar* Welcome,", " love! 🍺 (smiles)", '"\nPlayer: thanks'
        )
    )
    chunks = await _collect(make_provider(), _ctx())
    assert _text(chunks) == "Welcome, love!"
    assert chunks[0] == SourceTag("llm")


async def test_think_block_is_dropped(server: FakeOpenAIServer, make_provider: ProviderFactory) -> None:
    server.script(text_reply("<think>", "The player asks about", " wolves.</think>", "Wolves, love."))
    assert _text(await _collect(make_provider(), _ctx())) == "Wolves, love."


# -- the request ------------------------------------------------------------------------------------
async def test_request_carries_persona_settings_and_only_what_the_npc_knows(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("Aye."))
    ctx = _ctx(
        memories=["The player paid in imperial coin."],
        history=[HistoryEntry("player", "Evening."), HistoryEntry("mira", "Evening, love.")],
    )
    provider = make_provider(temperature=0.3, max_tokens=77, stop=["\nPlayer:"], extra_body={"top_k": 40})
    await _collect(provider, ctx)
    (req,) = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test-123"
    body = req.body
    assert body["model"] == "fake-npc-model"
    assert body["stream"] is True
    assert body["temperature"] == 0.3 and body["max_tokens"] == 77
    assert body["top_k"] == 40
    assert body["stop"] == ["\nPlayer:"]
    system = body["messages"][0]
    assert system["role"] == "system"
    for known in ("Mira Thornwood", "innkeeper of the Gilded Goose", "Wolves have been taking sheep"):
        assert known in system["content"], known
    # The world now and the memories retrieved for this line come with it, in the last message
    # (the system message and the history stay the same from turn to turn: prompt caches keep them).
    for known in ("The north gate is shut after dark.", "time_of_day: evening"):
        assert known in body["messages"][-1]["content"], known
    assert body["messages"][1:-1] == [
        {"role": "user", "content": '"Evening."'},
        {"role": "assistant", "content": "Evening, love."},
    ]
    last = body["messages"][-1]
    assert last["role"] == "user"
    assert "- The player paid in imperial coin." in last["content"]
    assert last["content"].endswith('[The player says]\n"Anything happening in the village?"')
    raw = json.dumps(body)
    assert ELDA_SECRET not in raw
    assert "Tomas took a bribe" not in raw  # a topic whose `when` does not hold
    assert "open_cellar" not in raw  # an action whose `when` does not hold


async def test_tools_are_the_allowed_actions_with_typed_parameters(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("Aye."), text_reply("Aye."))
    provider = make_provider()
    await _collect(provider, _ctx())
    await _collect(provider, _ctx(holds={"cellar.unlocked", "gate.bribe_known"}))
    first, second = server.requests
    assert [t["function"]["name"] for t in first.body["tools"]] == ["serve_drink", "give_room_key"]
    assert first.body["tool_choice"] == "auto"
    serve = first.body["tools"][0]["function"]
    assert serve["parameters"]["properties"]["drink"] == {"type": "string", "enum": ["ale", "cider"]}
    room = first.body["tools"][1]["function"]["parameters"]["properties"]["room"]
    assert room == {"type": "integer", "minimum": 1, "maximum": 6}
    assert [t["function"]["name"] for t in second.body["tools"]] == [
        "serve_drink",
        "give_room_key",
        "open_cellar",
    ]
    assert "Tomas took a bribe" in second.prompt_text


async def test_no_tools_sent_when_actions_are_off(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("Aye."))
    await _collect(make_provider(actions="none"), _ctx())
    assert "tools" not in server.requests[0].body
    assert "serve_drink" not in server.requests[0].prompt_text


# -- actions ----------------------------------------------------------------------------------------
async def test_streamed_tool_calls_become_action_proposals(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(
        tool_reply(
            "Here's your ale,",
            " love.",
            calls=[("serve_drink", '{"drink": "ale"}'), ("give_room_key", '{"room": 3}')],
            split=2,
        )
    )
    chunks = await _collect(make_provider(), _ctx("An ale and a room, please."))
    assert chunks == [
        SourceTag("llm"),
        TextPiece("Here's your ale,"),
        TextPiece(" love."),
        ActionProposal("serve_drink", {"drink": "ale"}),
        ActionProposal("give_room_key", {"room": 3}),
    ]


async def test_tool_call_with_broken_json_is_ignored(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(
        tool_reply("Sure.", calls=[("serve_drink", '{"drink": "al'), ("give_room_key", "[1]"), ("", "{}")])
    )
    chunks = await _collect(make_provider(), _ctx())
    assert chunks == [SourceTag("llm"), TextPiece("Sure.")]


async def test_actions_only_reply_still_reports_source_and_proposals(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(tool_reply(calls=[("serve_drink", '{"drink": "cider"}')]))
    chunks = await _collect(make_provider(), _ctx())
    assert chunks == [SourceTag("llm"), ActionProposal("serve_drink", {"drink": "cider"})]


async def test_text_action_line_for_servers_without_tools(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(
        text_reply("One cider,", " coming up.", "\n[act", 'ion serve_drink {"drink": "ci', 'der"}]')
    )
    chunks = await _collect(make_provider(actions="text"), _ctx())
    assert chunks == [
        SourceTag("llm"),
        TextPiece("One cider,"),
        TextPiece(" coming up."),
        ActionProposal("serve_drink", {"drink": "cider"}),
    ]
    body = server.requests[0].body
    assert "tools" not in body
    assert '[action NAME {"param": value}]' in body["messages"][0]["content"]
    assert "serve_drink(drink: string one of ['ale', 'cider'])" in body["messages"][0]["content"]


def test_action_line_parser_edge_cases() -> None:
    p = ActionLineParser()
    text = p.feed(
        'Fine [aside] then. [action give_room_key {"room": 2, "note": "a ] b"}] [action open_cellar]'
    )
    text += p.feed(" [action serve_drink {broken}] [action give_room_key [1]] bye") + p.finish()
    assert text == "Fine [aside] then.     bye"
    assert p.proposals == [
        ActionProposal("give_room_key", {"room": 2, "note": "a ] b"}),
        ActionProposal("open_cellar", {}),
    ]
    q = ActionLineParser()
    assert q.feed("Bye. [action serve_dr") == "Bye. "
    assert q.finish() == ""  # an action line cut off by the end of the reply is dropped
    r = ActionLineParser()
    assert r.feed("[act") == ""
    assert r.feed("ually, no]") == "[actually, no]"


# -- failures ---------------------------------------------------------------------------------------
async def test_http_500_is_a_provider_error(server: FakeOpenAIServer, make_provider: ProviderFactory) -> None:
    server.script(HttpError(500, "model crashed"))
    with pytest.raises(ProviderError) as err:
        await _collect(make_provider(), _ctx())
    assert not err.value.timeout
    assert err.value.provider == "openai"
    assert "HTTP 500" in str(err.value) and "model crashed" in str(err.value)
    assert len(server.requests) == 1  # no retries by default: a fallback line beats a slow answer


async def test_retries_when_configured(server: FakeOpenAIServer, make_provider: ProviderFactory) -> None:
    server.script(HttpError(503, "loading model"), text_reply("Back again?"))
    # The retry waits for the client library's back-off (about 0.5-1 s): with the stock 1.5 s reply
    # budget, a run at load 14 timed out first. Budgets here are hang bounds: retries are tested.
    chunks = await _collect(make_provider(max_retries=1, reply_budget=60.0, timeout=60.0), _ctx())
    assert _text(chunks) == "Back again?"
    assert len(server.requests) == 2


async def test_http_401_names_the_status(server: FakeOpenAIServer, make_provider: ProviderFactory) -> None:
    server.script(HttpError(401, "bad key"))
    with pytest.raises(ProviderError, match="HTTP 401"):
        await _collect(make_provider(), _ctx())


async def test_stall_before_the_first_token_times_out_within_the_configured_time(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(Stall())
    provider = make_provider(first_token_timeout=0.3, timeout=5.0)
    start = time.monotonic()
    with pytest.raises(ProviderError) as err:
        await _collect(provider, _ctx())
    elapsed = time.monotonic() - start
    assert err.value.timeout
    # the first-token limit (0.3 s) ended it, not the total one (5 s): slack for a loaded machine
    assert 0.25 <= elapsed < 4.0, elapsed


async def test_total_timeout_bounds_a_slow_reply(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("Well", stall=True))
    provider = make_provider(first_token_timeout=5.0, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(ProviderError) as err:
        await _collect(provider, _ctx())
    assert err.value.timeout
    assert time.monotonic() - start < 4.0  # the total limit (0.5 s), not the first-token one (5 s)


async def test_connection_refused_is_a_provider_error(make_provider: ProviderFactory) -> None:
    provider = make_provider(base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    start = time.monotonic()
    with pytest.raises(ProviderError) as err:
        await _collect(provider, _ctx())
    assert not err.value.timeout
    assert "cannot reach" in str(err.value) and "is the server running?" in str(err.value)
    assert time.monotonic() - start < 4.0  # at once, not after retries or a time-out (slack for load)


async def test_a_reply_with_nothing_to_say_is_a_provider_error(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("*nods", " slowly*", " "))
    with pytest.raises(ProviderError, match="no speakable text"):
        await _collect(make_provider(), _ctx())


async def test_provider_keeps_serving_after_failures(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(HttpError(500), Stall(), text_reply("Still here, love."))
    provider = make_provider(first_token_timeout=0.3)
    for _ in range(2):
        with pytest.raises(ProviderError):
            await _collect(provider, _ctx())
    assert _text(await _collect(provider, _ctx())) == "Still here, love."


async def test_cancelling_mid_reply_closes_the_stream_cleanly(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("First", " words", stall=True), text_reply("Next turn."))
    provider = make_provider()
    first_piece = asyncio.Event()

    async def consume() -> None:
        async for chunk in provider.stream(_ctx()):
            if isinstance(chunk, TextPiece):
                first_piece.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_piece.wait(), 5)
    task.cancel()  # a barge-in
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _text(await _collect(provider, _ctx())) == "Next turn."


# -- settings ---------------------------------------------------------------------------------------
def test_from_settings_validates_and_names_every_problem() -> None:
    with pytest.raises(ConfigError) as err:
        OpenAIProvider.from_settings(
            {"provider": "openai", "base_url": "localhost:11434", "temperature": 3, "modle": "x"}, environ={}
        )
    message = str(err.value)
    for part in (
        "dialogue.model",
        "dialogue.base_url",
        "http(s) URL",
        "dialogue.temperature",
        "dialogue.modle",
    ):
        assert part in message, part


def test_api_key_comes_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="set the environment variable MY_LLM_KEY"):
        OpenAIProvider.from_settings({"model": "gpt-4o-mini", "api_key_env": "MY_LLM_KEY"}, environ={})
    remote = OpenAIProvider.from_settings(
        {"model": "gpt-4o-mini", "api_key_env": "MY_LLM_KEY"}, environ={"MY_LLM_KEY": "sk-live"}
    )
    assert remote._api_key == "sk-live" and remote.settings.base_url is None
    local = OpenAIProvider.from_settings(
        {"model": "llama3.2", "base_url": "http://127.0.0.1:11434/v1/"}, environ={}
    )
    assert local._api_key == LOCAL_DUMMY_KEY
    assert local.settings.base_url == "http://127.0.0.1:11434/v1"
    assert local.first_chunk_timeout == 10.0 and local.total_timeout == 30.0


async def test_local_server_gets_the_dummy_key(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("Aye."))
    await _collect(make_provider(environ={}), _ctx())
    assert server.requests[0].headers["authorization"] == f"Bearer {LOCAL_DUMMY_KEY}"


async def test_server_without_tool_support_switches_to_action_lines(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    # What Ollama answers for a model without tool support.
    server.script(
        HttpError(400, "registry.ollama.ai/library/gemma:2b does not support tools"),
        text_reply("Cider it is.", '\n[action serve_drink {"drink": "cider"}]'),
        text_reply("Another?"),
    )
    provider = make_provider()
    chunks = await _collect(provider, _ctx("A cider, please."))
    assert chunks == [
        SourceTag("llm"),
        TextPiece("Cider it is."),
        ActionProposal("serve_drink", {"drink": "cider"}),
    ]
    first, second = server.requests
    assert "tools" in first.body and "tools" not in second.body
    assert "[action NAME" in second.body["messages"][0]["content"]
    assert _text(await _collect(provider, _ctx())) == "Another?"
    assert len(server.requests) == 3 and "tools" not in server.requests[2].body  # remembered


async def test_an_unrelated_400_is_not_retried(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(HttpError(400, "context length exceeded"))
    with pytest.raises(ProviderError, match="HTTP 400"):
        await _collect(make_provider(), _ctx())
    assert len(server.requests) == 1


async def test_single_shot_completion_for_reflection(
    server: FakeOpenAIServer, make_provider: ProviderFactory
) -> None:
    server.script(text_reply("Mira trusts ", "the player (because of 1, 2)"))
    provider = make_provider()
    complete = provider.complete_fn()
    assert complete is not None
    answer = await complete("What does Mira think?")
    assert answer == "Mira trusts the player (because of 1, 2)"
    (req,) = server.requests
    assert req.body["stream"] is False
    assert req.body["messages"] == [{"role": "user", "content": "What does Mira think?"}]
