"""The directory YAML: valid, faithful to the seed, and never carrying an unverified number."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from bot.domain.directory import DEFAULT_PATH, DirectoryError, load_directory, main, parse_directory

RAW = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_directory_loads_and_names_the_seed_windows():
    d = load_directory()
    names = {w.name for w in d.windows}
    for expected in (
        "こころの健康相談・ひきこもり相談（保健福祉課）",
        "若者居場所づくり事業（生涯学習課）",
        "ちゃんくす（市の委託事業含む）",
        "広島ひきこもり相談支援センター（広島県）",
        "自立支援センター みはら（社会福祉協議会）",
        "地域若者サポートステーション",
        "ハローワーク",
        "精神保健福祉センター",
        "保健所",
        "子ども・若者総合相談センター",
    ):
        assert expected in names


def test_ibasho_facts_come_from_the_seed():
    w = load_directory().window("mihara_ibasho")
    assert w.address == "港町一丁目2番26号" and w.place_name == "ちゃんくす"
    assert w.schedule.weeks == (2, 4) and w.schedule.weekday == 4 and w.schedule.period == "pm"


def test_every_number_in_the_file_is_on_the_verified_list():
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    for number in re.findall(r"(?<![\d-])0\d{1,4}-\d{1,4}-\d{3,5}", text):
        assert number in load_directory().verified_numbers


def test_a_made_up_verified_number_is_rejected():
    data = copy.deepcopy(RAW)
    data["windows"][0]["contact"] = {"phone": "0848-12-3456", "phone_verified": True}
    with pytest.raises(DirectoryError, match="verified list"):
        parse_directory(data)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["windows"][1].update(age={"min": 40, "max": 15}), "age.min > age.max"),
        (lambda d: d["windows"][1].update(needs=["dancing"]), "unknown needs"),
        (lambda d: d["windows"].append(copy.deepcopy(d["windows"][0])), "duplicate window ids"),
        (lambda d: d["windows"][1]["schedule"].update(weeks=[6]), "weeks"),
    ],
)
def test_malformed_entries_are_named(mutate, message):
    data = copy.deepcopy(RAW)
    mutate(data)
    with pytest.raises(DirectoryError, match=message):
        parse_directory(data)


def test_check_directory_lists_what_is_unset(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "要設定" in out and "mihara_kokoro" in out and "contact.phone" in out
