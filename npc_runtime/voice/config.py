"""The ``voice`` section of the runtime settings, validated at the edge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .s2s.config import S2sConfig
from .turn.config import TurnConfig

DEFAULT_BACKCHANNELS = [
    "uh-huh", "uh huh", "uhhuh", "mhm", "mm", "mmm", "hmm", "hm", "uh", "um", "ah", "oh", "yeah",
    "yep", "yes", "right", "okay", "ok", "sure", "i see", "aha", "huh", "wow", "oh yeah", "uh-hum",
]  # fmt: skip


class VoiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="false: a text-only runtime (no voice messages, no models loaded)"
    )
    stt: Literal["cascade", "whisper", "pocketsphinx", "openai"] = Field(
        default="cascade",
        description="cascade: pocketsphinx streams interim text, Whisper tiny.en gives the final "
        "transcript; whisper or pocketsphinx alone; openai (cloud)",
    )
    stt_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider options; for cascade: interim, final, interim_options, final_options, "
        "final_processes, max_interim (utterances at a time with a streaming decoder; the others "
        "get interim text from Whisper's decodes at pauses; default 1)",
    )
    stt_processes: int = Field(
        default=2,
        ge=0,
        le=32,
        description="Worker processes for pocketsphinx, alone or as the cascade's interim part (it "
        "holds the GIL while decoding); 0: threads",
    )
    tts: Literal["piper", "espeak", "openai"] = Field(
        default="piper", description="Default TTS; a persona's voice.tts overrides it"
    )
    tts_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Options per TTS provider, e.g. {openai: {base_url: ...}}"
    )
    tts_cache_mb: float = Field(
        default=64,
        ge=0,
        description="Memory for synthesised phrases (authored lines are known text: each is "
        "synthesised once per voice and mood); 0: no cache",
    )
    tts_cache_dir: str | None = Field(
        default=None, description="Also keep synthesised phrases in this directory, across restarts"
    )
    tts_cache_warm: bool = Field(
        default=True,
        description="At start, synthesise in the background the greetings and the first sentence of "
        "every authored line of every persona (paused while a voice conversation is busy; only with "
        "warm_up); and the same in an NPC's mood the first time it speaks in one",
    )
    fallback_tts: Literal["piper", "espeak", "openai"] | None = Field(
        default="espeak", description="Used when the chosen TTS fails"
    )
    vad: Literal["silero", "webrtc"] = "silero"
    vad_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Speech probability that counts as voice"
    )
    min_speech_ms: float = Field(default=90, ge=0, description="Voice needed before a turn starts")
    end_silence_ms: float = Field(
        default=300,
        ge=60,
        description="Hands-free with voice.turn.policy silence: silence that ends the turn",
    )
    turn: TurnConfig = Field(
        default_factory=TurnConfig,
        description="Hands-free: how a pause is judged the end of the turn (docs/voice.md, End of turn)",
    )
    speculate_after_ms: float | None = Field(
        default=120,
        ge=0,
        description="Hands-free: after this much silence, recognise the utterance and prepare the "
        "reply's first audio while waiting for end_silence_ms (nothing is sent before the turn is "
        "confirmed); null or 0: off",
    )
    quiet_db: float | None = Field(
        default=50.0,
        description="In an utterance, a frame this many dB below its loudest counts as silence even "
        "if the VAD still says speech (ends turns ~40 ms sooner on clean audio); null: VAD only",
    )
    pre_roll_ms: float = Field(default=400, ge=0, description="Audio kept from before speech onset")
    max_utterance_s: float = Field(default=20.0, gt=0)
    audio_timeout_s: float = Field(
        default=2.0, gt=0, description="An utterance with no audio for this long is dropped (audio_timeout)"
    )
    rejoin_ms: float = Field(
        default=1500,
        ge=0,
        description="Hands-free: speech that starts within this long of the end of an answered "
        "utterance whose reply is still coming or playing, and meets the barge-in rules, was cut off "
        "at a pause: it is recognised and answered joined to the utterance before; 0: off",
    )
    barge_in: bool = Field(default=True, description="Player speech may interrupt the NPC")
    barge_in_min_ms: float = Field(default=300, ge=0, description="Voice needed before a barge-in counts")
    echo_threshold: float = Field(
        default=0.8, gt=0, lt=1, description="VAD threshold while the client plays NPC audio"
    )
    backchannels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BACKCHANNELS),
        description="Utterances that never interrupt the NPC and are not answered while it speaks",
    )
    backchannel_max_ms: float = Field(
        default=500, ge=0, description="Voice under this is a backchannel unless it is an interrupt word"
    )
    min_interrupt_words: int = Field(
        default=2, ge=1, description="Words needed to interrupt the NPC (interrupt words count alone)"
    )
    interrupt_words: list[str] = Field(
        default_factory=lambda: ["stop", "wait", "hold", "no", "hey", "enough", "quiet", "listen"],
        description="Short words that do interrupt the NPC",
    )
    ptt_interrupts: bool = Field(default=True, description="Push-to-talk speech_start interrupts at once")
    report_wait_ms: float = Field(default=500, ge=0, description="Wait for playback_report after stop")
    start_wait_ms: float = Field(
        default=1000,
        ge=0,
        description="After a reply's audio is sent, wait this long for playback_started before "
        "ending the turn (once per conversation for a client that never sends it; a client that "
        "does gets a 5 s hang bound instead)",
    )
    chunk_ms: float = Field(default=200, ge=20, le=2000, description="Duration of each npc_audio chunk")
    scene_words: list[str] = Field(default_factory=list, description="Extra names to recognise")
    s2s: S2sConfig = Field(
        default_factory=S2sConfig, description="Speech-to-speech profiles (docs/voice.md, section 12)"
    )
    warm_up: bool = Field(
        default=True,
        description="Load the models before the runtime serves; false: when the first voice "
        "conversation starts (it then waits for them, which can take seconds)",
    )
