"""Multi-turn Japanese conversations the simulated LINE users play (from tests/integration).

A step is either a text the user types or ``{"button": "<intent>"}``: tap the quick-reply
postback of that intent from the bot's last reply (as a person on LINE would), falling back to
``{"text": ...}`` when the reply had no such button.
"""

from __future__ import annotations

import random
from typing import Any, Union

Step = Union[str, dict[str, Any]]

# greeting → relation → age → situation → needs → recommendation → callback booking
FAMILY_BOOKING: list[Step] = [
    "こんばんは",
    "母です",
    "４５歳です",
    "大学を中退してから二十年近く部屋から出てきません",
    "居場所",
    "お願いします",
    "はい",
    "電話で",
    "０９０ー１２３４ー５６７８",
    {"button": "choose_slot", "text": "いつでもいいです"},
    {"button": "skip", "text": "なしで"},
    "はい",
]
# greeting → relation → age → situation → needs → recommendation, then thanks
FAMILY_RECOMMENDATION: list[Step] = [
    "こんにちは",
    "父です",
    "息子は三十代後半です",
    "仕事をやめてから五年くらい家から出ません",
    "親だけで相談できるところ",
    "ありがとうございました",
]
SELF_RECOMMENDATION: list[Step] = [
    "こんにちは",
    "自分のことです",
    "29歳です",
    "人と話すのがこわくて外に出られません",
    "居場所",
]
ONE_LONG_MESSAGE: list[Step] = [
    "夜分にすみません ７８歳の母です 息子が４５歳で仕事をやめてから十年 家から出られません "
    "親だけでも行ける家族会のようなところを知りたいです",
    "ありがとうございます",
]
WHERE_TO_GO: list[Step] = ["どこか相談できるところはありますか", "答えたくない"]
SCHOOL: list[Step] = ["娘が中2で不登校です", "居場所", "ありがとう"]
CRISIS: list[Step] = ["こんにちは", "自分のことです", "もう死にたい", "大丈夫です"]
FAQ: list[Step] = ["こんにちは", "名前を言わないとだめですか", "母です", "答えたくない"]

#: (weight, name, steps): mostly intake paths that end in a recommendation.
MIX: list[tuple[float, str, list[Step]]] = [
    (0.25, "family_booking", FAMILY_BOOKING),
    (0.20, "family_recommendation", FAMILY_RECOMMENDATION),
    (0.15, "self_recommendation", SELF_RECOMMENDATION),
    (0.10, "one_long_message", ONE_LONG_MESSAGE),
    (0.10, "where_to_go", WHERE_TO_GO),
    (0.08, "school", SCHOOL),
    (0.07, "faq", FAQ),
    (0.05, "crisis", CRISIS),
]


def pick(rng: random.Random) -> tuple[str, list[Step]]:
    x = rng.random() * sum(w for w, _, _ in MIX)
    for w, name, steps in MIX:
        x -= w
        if x <= 0:
            return name, steps
    return MIX[-1][1], MIX[-1][2]


def all_texts() -> list[str]:
    """Every typed text (for NLU parse timing)."""
    out: list[str] = []
    for _, _, steps in MIX:
        for s in steps:
            out.append(s if isinstance(s, str) else s["text"])
    return list(dict.fromkeys(out))
