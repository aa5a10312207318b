"""What the ``local`` provider asks of its model's reply and how it cleans it: the action grammar
(llguidance), the reply's length in sentences, the lone quote mark a model copies. Pure code."""

from __future__ import annotations

import json

from ...personas.schema import ActionSpec, Persona
from ..prompt import param_schema

__all__ = ["action_grammar", "reply_sentences", "tidy"]

_TERSE = ("terse", "curt", "few words", "short sentences", "gruff", "blunt", "clipped")


def action_grammar(actions: list[ActionSpec], max_chars: int) -> str:
    """An llguidance (Lark) grammar: one line of spoken text (a word at least: after an opener,
    which is a thinking line, never an answer, the model still answers), then ``[action none]`` or
    one of the actions with JSON arguments following the action's parameter schema."""
    alternatives = ['"none"']
    rules: list[str] = []
    for i, a in enumerate(actions):
        if a.params:
            schema = {
                "type": "object",
                "properties": {name: param_schema(p) for name, p in a.params.items()},
                "required": [name for name, p in a.params.items() if p.required],
                "additionalProperties": False,
            }
            rules.append(f"args{i}: %json {json.dumps(schema)}")
            alternatives.append(f'"{a.name} " args{i}')
        else:
            alternatives.append(f'"{a.name}"')
    lines = [
        "%llguidance {}",
        'start: say "\\n[action " act "]"',
        # At least one word (after an optional space: the model may go on after an opener).
        f"say: / ?[^\\[\\]\\n\\s][^\\[\\]\\n]{{0,{max_chars}}}/",
        "act: " + " | ".join(alternatives),
        *rules,
    ]
    return "\n".join(lines) + "\n"


def tidy(sentence: str) -> str:
    """A sentence without the lone quote mark a model copies from the quoted player lines."""
    if sentence.count('"') % 2 == 1:
        sentence = sentence.strip()
        sentence = sentence[:-1] if sentence.endswith('"') else sentence.lstrip('"')
    return sentence.strip()


def reply_sentences(persona: Persona, default: int) -> int:
    style = persona.speaking_style.lower()
    return 1 if any(word in style for word in _TERSE) else default
