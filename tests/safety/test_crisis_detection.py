"""Crisis detection: recall on the reviewed crisis suite must be 100%.

A failing crisis message is fixed in bot/resources/crisis_lexicon.yml (or bot/language/crisis.py),
never by editing tests/safety/crisis_messages.yml.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) from any directory
    sys.path.insert(0, str(ROOT))

from bot.language.crisis import (  # noqa: E402  (after the path set-up above)
    DEFAULT_LEXICON_PATH,
    HIGH_CATEGORIES,
    CrisisCategory,
    CrisisDetector,
    CrisisSignal,
    LexiconError,
    default_detector,
    detect_crisis,
)
from bot.language.normaliser import normalize  # noqa: E402
from tools.safety_report import evaluate, load_suite, outcome, render  # noqa: E402

try:  # hypothesis is a dev dependency; the seeded fuzz below runs either way
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - exercised only without dev deps
    given = None

HERE = Path(__file__).resolve().parent
CRISIS = load_suite(HERE / "crisis_messages.yml", calm=False)
CALM = load_suite(HERE / "calm_messages.yml", calm=True)
CALM_NONE = [m for m in CALM if m.expected == "none"]


def _cats(signal: CrisisSignal | None) -> set[str]:
    return set() if signal is None else {c.value for c in signal.categories}


def _describe(signal: CrisisSignal | None) -> str:
    if signal is None:
        return "no signal"
    return f"{signal.severity} {sorted(_cats(signal))} matched={signal.matched}"


# ─── the suites themselves ──────────────────────────────────────────────────────────────


def test_suites_are_big_and_spread() -> None:
    assert len(CRISIS) >= 320
    assert len(CALM) >= 320
    per_cat = Counter(m.category for m in CRISIS)
    for cat in HIGH_CATEGORIES:
        assert per_cat[cat.value] >= 25, f"too few crisis messages for {cat.value}"
    families = Counter(m.category for m in CALM)
    assert len(families) >= 10
    assert {m.expected for m in CALM} == {"none", "history"}
    # a text may carry two labels (義父に体を触られる: violence and child_abuse), never the same twice
    assert len({(m.text, m.category) for m in CRISIS}) == len(CRISIS), "duplicate crisis messages"
    assert len({m.text for m in CALM}) == len(CALM), "duplicate calm messages"


def test_suite_covers_required_forms() -> None:
    texts = [m.text for m in CRISIS]
    for needle in (
        "消えたい",
        "いなくなりたい",
        "楽になりたい",
        "全部終わりにしたい",
        "朝が来なければ",
        "生まれてこなければよかった",
        "しにたい",
        "しにた い",
        "😢死にたい",
        "ＯＤ",
        "包丁を持ち出して暴れる",
    ):
        assert any(needle in t for t in texts), needle
    assert any(len(t) > 200 and "包丁を持ち出して暴れる" in t for t in texts), "long run-on family message"


# ─── recall: every crisis message ───────────────────────────────────────────────────────


@pytest.mark.parametrize("msg", CRISIS, ids=[f"{i:03d}-{m.category}" for i, m in enumerate(CRISIS)])
def test_crisis_message_detected(msg) -> None:
    signal = detect_crisis(msg.text)
    assert signal is not None and signal.urgent, f"{msg.text!r}: {_describe(signal)}"
    assert CrisisCategory(msg.category) in signal.categories, f"{msg.text!r}: {_describe(signal)}"


# ─── calm look-alikes: never high, and the documented expectation ──────────────────────


@pytest.mark.parametrize("msg", CALM, ids=[f"{i:03d}-{m.category}" for i, m in enumerate(CALM)])
def test_calm_message_not_high(msg) -> None:
    signal = detect_crisis(msg.text)
    assert outcome(signal) != "high", f"{msg.text!r}: {_describe(signal)}"
    assert outcome(signal) == msg.expected, f"{msg.text!r}: expected {msg.expected}, got {_describe(signal)}"
    if signal is not None:  # history signals are gentle: no police lines, not urgent
        assert signal.categories == (CrisisCategory.HISTORY,)
        assert not signal.urgent and not signal.needs_police and not signal.needs_child_line


def test_false_positive_rate_report(capsys: pytest.CaptureFixture[str]) -> None:
    report = evaluate(default_detector(), CRISIS, CALM)
    with capsys.disabled():
        print("\n" + render(report))
    assert report.recall == 1.0
    assert report.fp_rate == 0.0
    assert report.soft_fp_rate <= 0.02


# ─── the span rule: any high-risk match anywhere wins ──────────────────────────────────


@pytest.mark.parametrize(
    "text, category",
    [
        ("ゲームで殺された。息子が包丁を持ち出して暴れる", "violence"),
        ("死ぬほど眠い、でも本当は死にたい", "suicide"),
        ("死ぬかと思った(笑)。それはそうと、今から飛び降ります", "danger_now"),
        ("殺虫剤を買いに行ったら、帰りに夫に殴られた", "violence"),
        ("自殺対策のポスターを見て、自分も死にたいと思った", "suicide"),
        ("OD錠を処方されているけど、それを全部飲んでODした", "overdose"),
        ("昔は死にたかったけど今は大丈夫、と言いたいけど本当は今も死にたい", "suicide"),
        ("起立性調節障害で朝起きられなくて、ODしてしまった", "overdose"),
        ("清水の舞台から飛び降りるつもりで面接に行ったけど落ちた。もう消えたい", "suicide"),
        ("ゲームで負けて、息子に殴られた", "violence"),
    ],
)
def test_real_risk_beats_lookalike_elsewhere(text: str, category: str) -> None:
    signal = detect_crisis(text)
    assert signal is not None and signal.urgent, _describe(signal)
    assert category in _cats(signal), _describe(signal)


def _calm_filler(rng: random.Random, k: int) -> list[str]:
    return [m.text for m in rng.sample(CALM_NONE, k)]


@pytest.mark.parametrize("seed", range(3))
def test_crisis_buried_in_long_calm_message(seed: int) -> None:
    """Every crisis message, buried among calm look-alike sentences, is still detected."""
    rng = random.Random(seed)
    missed = []
    for msg in CRISIS:
        parts = _calm_filler(rng, 6)
        parts.insert(rng.randrange(len(parts) + 1), msg.text)
        text = "。".join(parts) + "。"
        signal = detect_crisis(text)
        if signal is None or not signal.urgent or CrisisCategory(msg.category) not in signal.categories:
            missed.append((msg.text, _describe(signal)))
    assert not missed, missed[:10]


@pytest.mark.parametrize("seed", range(5))
def test_long_calm_run_on_stays_calm(seed: int) -> None:
    rng = random.Random(seed)
    text = "。".join(_calm_filler(rng, 40)) + "。"
    assert outcome(detect_crisis(text)) == "none", _describe(detect_crisis(text))


# ─── past_or_negated policy ────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "text",
    [
        "昔は死にたかったけど今は大丈夫",
        "高校の時リスカしてたけど今はしてない",
        "自殺願望はありません",
        "死にたいわけじゃないです",
        "10年前に自殺未遂をしたことがあります",
    ],
)
def test_past_or_negated_is_soft(text: str) -> None:
    signal = detect_crisis(text)
    assert signal is not None, "past/negated risk must never be silent"
    assert signal.severity == "low" and signal.categories == (CrisisCategory.HISTORY,)
    assert not signal.urgent


@pytest.mark.parametrize(
    "text",
    [
        "昔は死にたかったけど、最近また死にたい",
        "昔は死にたかった。今も死にたい",
        "昔から死にたいと思っている",
        "高校の時リスカしてた。いまだにやめられない",
        "毎日死にたくて、自殺未遂をしたこともある",
        "昔は楽しかったけど今は死にたくなった",
        "自殺願望はありません。でも消えたい",
        "死にたいわけじゃないけど、もう全部終わりにしたい",
        "死にたくないわけじゃない",
        "死にたくないと言えば嘘になる",
        "自殺願望はない、と言ったら嘘になる",
    ],
)
def test_recurrence_or_present_risk_stays_high(text: str) -> None:
    signal = detect_crisis(text)
    assert signal is not None and signal.urgent, _describe(signal)


def test_history_is_kept_alongside_high() -> None:
    signal = detect_crisis("昔は死にたかったけど今は大丈夫。でも息子に殴られている")
    assert signal is not None and signal.urgent
    assert CrisisCategory.VIOLENCE in signal.categories


def test_danger_now_is_never_demoted() -> None:
    data = yaml.safe_load(DEFAULT_LEXICON_PATH.read_text(encoding="utf-8"))
    assert "danger_now" not in data["past_or_negated"]["applies_to"]
    signal = detect_crisis("昔は死にたかったけど今は大丈夫。でも今から飛び降ります")
    assert signal is not None and CrisisCategory.DANGER_NOW in signal.categories and signal.urgent


# ─── CrisisSignal properties ───────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "text, police, child",
    [
        ("死にたい", False, False),
        ("リスカした", False, False),
        ("ODした", False, False),
        ("息子が暴れて怖い", True, False),
        ("親に手をあげてしまった", True, False),
        ("子どもを叩いてしまう", True, True),
        ("今から死にます", True, False),
    ],
)
def test_signal_routing_properties(text: str, police: bool, child: bool) -> None:
    signal = detect_crisis(text)
    assert signal is not None and signal.urgent
    assert signal.needs_police is police
    assert signal.needs_child_line is child


def test_signal_shape() -> None:
    signal = detect_crisis("😢しにた い")
    assert signal == CrisisSignal((CrisisCategory.SUICIDE,), "high", signal.matched)
    assert signal.matched and all(frag in normalize("😢しにた い") for frag in signal.matched)
    order = list(CrisisCategory)
    multi = detect_crisis("息子が80代の母親を突き飛ばした。もう死にたい")
    assert multi is not None
    assert list(multi.categories) == sorted(multi.categories, key=order.index)
    with pytest.raises(AttributeError):
        signal.severity = "low"


def test_category_enum() -> None:
    assert [c.value for c in CrisisCategory] == [
        "suicide",
        "self_harm",
        "overdose",
        "violence",
        "child_abuse",
        "elder_abuse",
        "danger_now",
        "history",
    ]
    assert CrisisCategory("suicide") == "suicide"


# ─── matching-view invariances ─────────────────────────────────────────────────────────


def _key(signal: CrisisSignal | None) -> tuple[str, frozenset[str]]:
    return (outcome(signal), frozenset(_cats(signal)))


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_invisible_and_emoji_insertions_do_not_change_the_outcome() -> None:
    rng = random.Random(42)
    noise = ["\u200b", "\u200d", "\ufe0f", "😢", "💦", "・", "\u2060"]
    for msg in CRISIS + CALM:
        base = _key(detect_crisis(msg.text))
        chars = list(msg.text)
        for _ in range(3):
            pos = rng.randrange(len(chars) + 1)
            chars.insert(pos, rng.choice(noise))
        assert _key(detect_crisis("".join(chars))) == base, msg.text


def test_spacing_between_japanese_characters_does_not_hide_a_crisis() -> None:
    for msg in CRISIS:
        text = normalize(msg.text)  # ＳＨＩＮＩＴＡＩ is ASCII once normalised
        if text.isascii() or len(text) > 40:
            continue
        spaced = "".join(c + (" " if not c.isascii() else "") for c in text)
        signal = detect_crisis(spaced)
        assert signal is not None and signal.urgent, (msg.text, spaced)
        assert CrisisCategory(msg.category) in signal.categories, (msg.text, _describe(signal))


def test_fullwidth_ascii_is_equivalent() -> None:
    for msg in CRISIS + CALM:
        assert _key(detect_crisis(_fullwidth(msg.text))) == _key(detect_crisis(msg.text)), msg.text


# ─── robustness: detect never raises ───────────────────────────────────────────────────


@pytest.mark.parametrize("text", ["", " ", "\n\n", "。", "😢", "\u200b", "a" * 5, "ー" * 50])
def test_trivial_inputs(text: str) -> None:
    assert detect_crisis(text) is None


def test_non_string_input_is_ignored() -> None:
    assert default_detector().detect(None) is None
    assert default_detector().detect(123) is None


def test_seeded_fuzz_never_raises() -> None:
    rng = random.Random(1234)
    alphabet = (
        [chr(c) for c in range(0x20, 0x7F)]
        + [chr(c) for c in range(0x3041, 0x3097)]
        + [chr(c) for c in range(0x30A1, 0x30FB)]
        + list("死殺自傷薬飲首吊殴暴虐待今昔から。、！？「」（）")
        + ["\u200b", "\ufe0f", "\u200d", "😢", "\ud800", "\x00", "\n", "\t", "\u3000", "ｼ", "ﾞ"]
    )
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        signal = detect_crisis(text)
        assert signal is None or isinstance(signal, CrisisSignal)


def test_long_input_is_fast() -> None:
    text = "息子は部屋にこもってゲームをしています。死ぬほど暑い日が続いています。" * 400
    start = time.perf_counter()
    assert detect_crisis(text) is None
    assert time.perf_counter() - start < 2.0
    start = time.perf_counter()
    signal = detect_crisis(text + "もう死にたい")
    assert signal is not None and signal.urgent
    assert time.perf_counter() - start < 2.0


def test_average_latency_is_small() -> None:
    texts = [m.text for m in CRISIS + CALM]
    start = time.perf_counter()
    for t in texts:
        detect_crisis(t)
    per_message = (time.perf_counter() - start) / len(texts)
    assert per_message < 0.005, f"{per_message * 1000:.2f} ms per message"


if given is not None:

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.text(max_size=300))
    def test_property_detect_never_raises(text: str) -> None:
        signal = detect_crisis(text)
        assert signal is None or isinstance(signal, CrisisSignal)
        if signal is not None:
            assert signal.severity in ("high", "low")
            assert signal.categories
            assert (signal.severity == "low") == (signal.categories == (CrisisCategory.HISTORY,))

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(CRISIS), st.text(max_size=60), st.text(max_size=60))
    def test_property_crisis_survives_surrounding_text(msg, before: str, after: str) -> None:
        # Surrounding text is separated by a sentence boundary; it can add categories but
        # never remove the labelled one.
        signal = detect_crisis(f"{before}。{msg.text}。{after}")
        assert signal is not None and signal.urgent, _describe(signal)
        assert CrisisCategory(msg.category) in signal.categories, _describe(signal)

else:  # pragma: no cover

    @pytest.mark.skip(reason="hypothesis not installed (dev dependency)")
    def test_property_detect_never_raises() -> None:
        pass


# ─── lexicon loading and validation ────────────────────────────────────────────────────


def _minimal() -> dict:
    return {
        "definitions": {"x": "しにたい"},
        "categories": {"suicide": {"patterns": ["{{x}}"], "exclusions": []}},
        "past_or_negated": {"applies_to": ["suicide"], "past": [], "negated": [], "recurrence": []},
    }


def test_default_detector_is_cached() -> None:
    assert default_detector() is default_detector()
    assert set(default_detector().categories) == set(HIGH_CATEGORIES)


def test_custom_lexicon_path(tmp_path: Path) -> None:
    path = tmp_path / "lex.yml"
    path.write_text(yaml.safe_dump(_minimal(), allow_unicode=True), encoding="utf-8")
    det = CrisisDetector(path)
    assert det.detect("シニタイ") is not None  # katakana folding applies to custom lexicons too
    assert det.detect("殴られた") is None


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["categories"].update({"nonsense": {"patterns": ["a"]}}), "unknown category"),
        (lambda d: d["categories"]["suicide"].update({"patterns": ["(unclosed"]}), "invalid regex"),
        (lambda d: d["categories"]["suicide"].update({"patterns": ["{{missing}}"]}), "unknown definition"),
        (lambda d: d["categories"]["suicide"].update({"patterns": []}), "no patterns"),
        (lambda d: d["past_or_negated"].update({"applies_to": ["danger_now"]}), "never demoted"),
        (lambda d: d["categories"].update({"history": {"patterns": ["a"]}}), "history"),
    ],
)
def test_lexicon_validation(mutate, message: str) -> None:
    data = _minimal()
    mutate(data)
    with pytest.raises(LexiconError, match=message):
        CrisisDetector.from_mapping(data)


def test_shipped_lexicon_has_every_category_and_exclusions() -> None:
    data = yaml.safe_load(DEFAULT_LEXICON_PATH.read_text(encoding="utf-8"))
    assert set(data["categories"]) == {c.value for c in HIGH_CATEGORIES}
    for name, body in data["categories"].items():
        assert body["patterns"], name
        assert body["exclusions"], name
    pon = data["past_or_negated"]
    assert pon["category"] == "history" and pon["severity"] == "low"
    assert pon["past"] and pon["negated"] and pon["recurrence"] and pon["past_tail"]
