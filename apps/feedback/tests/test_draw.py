"""Stratified sortition "civitas-draw/1": proportional quotas, determinism, verification."""

from __future__ import annotations

from collections import Counter

import pytest

from apps.feedback import draw


def _candidates(spec: dict[str, int]) -> list[dict]:
    """spec: {"north": 6, "south": 3} -> candidates V-1.. in order, each in its district."""
    out, n = [], 0
    for district, count in spec.items():
        for _ in range(count):
            n += 1
            out.append({"ref": f"V-{n}", "strata": {"district": district}})
    return out


def _record(seed="seed-1", spec=None, seats=4) -> dict:
    candidates = _candidates(spec or {"north": 5, "south": 3, "west": 2})
    result = draw.draw(seed=seed, candidates=candidates, strata_fields=["district"], seats=seats)
    return {
        "algorithm": result.algorithm,
        "seed": seed,
        "seats": seats,
        "strata_fields": ["district"],
        "candidates": candidates,
        "quotas": result.quotas,
        "selected": result.selected,
    }


def test_quotas_are_proportional_by_largest_remainder():
    # 10 seats over 6/3/1: exact 6, 3, 1
    assert draw.quotas_for({"a": 6, "b": 3, "c": 1}, 10) == {"a": 6, "b": 3, "c": 1}
    # 4 seats over 5/3/2: exact 2, 1.2, 0.8 -> floors 2, 1, 0; the seat left goes to the largest remainder
    assert draw.quotas_for({"a": 5, "b": 3, "c": 2}, 4) == {"a": 2, "b": 1, "c": 1}
    # 4 over 6/3/1: remainders 0.4, 0.2, 0.4 -> a tie between a and c, the smaller key wins
    assert draw.quotas_for({"c": 1, "b": 3, "a": 6}, 4) == {"a": 3, "b": 1, "c": 0}
    # a tie of remainders goes to the smaller key
    assert draw.quotas_for({"b": 1, "a": 1}, 1) == {"a": 1, "b": 0}
    assert sum(draw.quotas_for({"x": 7, "y": 5, "z": 2}, 9).values()) == 9


def test_the_selection_follows_the_quotas_and_never_repeats_a_person():
    record = _record(seats=4)
    assert record["algorithm"] == "civitas-draw/1"
    assert len(record["selected"]) == len(set(record["selected"])) == 4
    by_ref = {c["ref"]: c["strata"]["district"] for c in record["candidates"]}
    drawn = Counter(by_ref[ref] for ref in record["selected"])
    assert drawn == Counter({"north": 2, "south": 1, "west": 1})
    assert record["quotas"] == {'["north"]': 2, '["south"]': 1, '["west"]': 1}


def test_the_same_inputs_give_the_same_draw_and_another_seed_another():
    assert _record("alpha", seats=5) == _record("alpha", seats=5)
    results = {tuple(_record(f"seed-{i}", seats=5)["selected"]) for i in range(10)}
    assert len(results) > 1  # the seed matters


def test_verify_holds_for_a_recorded_draw():
    assert draw.verify(_record())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: r.update(seed="another seed"),
        lambda r: r["candidates"].append({"ref": "V-99", "strata": {"district": "north"}}),
        lambda r: r["candidates"].reverse(),
        lambda r: r["candidates"][0]["strata"].update(district="south"),
        lambda r: r.update(selected=list(reversed(r["selected"]))),
        lambda r: r.update(selected=[*r["selected"][:-1], "V-10" if r["selected"][-1] != "V-10" else "V-9"]),
        lambda r: r.update(quotas={**r["quotas"], '["north"]': 3}),
        lambda r: r.update(seats=5),
        lambda r: r.update(algorithm="civitas-draw/0"),
    ],
)
def test_verify_detects_any_change(tamper):
    record = _record(seed="fixed", spec={"north": 5, "south": 5}, seats=4)
    assert draw.verify(record)
    tamper(record)
    assert not draw.verify(record)


def test_small_strata_and_no_strata():
    one_each = _candidates({"a": 1, "b": 1, "c": 1})
    result = draw.draw(seed="s", candidates=one_each, strata_fields=["district"], seats=3)
    assert sorted(result.selected) == ["V-1", "V-2", "V-3"]
    single = draw.draw(seed="s", candidates=one_each, strata_fields=[], seats=2)
    assert single.quotas == {"[]": 2} and len(set(single.selected)) == 2
    # a stratum of one among big ones may get no seat: proportionality, not representation
    result = draw.draw(seed="s", candidates=_candidates({"big": 9, "tiny": 1}), strata_fields=["district"], seats=2)
    assert result.quotas == {'["big"]': 2, '["tiny"]': 0}


def test_impossible_draws_are_refused():
    candidates = _candidates({"a": 2})
    for seats in (0, 3, -1):
        with pytest.raises(draw.DrawError):
            draw.draw(seed="s", candidates=candidates, strata_fields=["district"], seats=seats)
    with pytest.raises(draw.DrawError):
        draw.draw(seed="", candidates=candidates, strata_fields=[], seats=1)
    with pytest.raises(draw.DrawError):
        draw.draw(seed="s", candidates=[*candidates, candidates[0]], strata_fields=[], seats=1)


def test_the_algorithm_is_the_documented_one():
    """Re-implemented from the module's description, independently of draw()."""
    import hashlib

    candidates = _candidates({"north": 3, "south": 2})
    result = draw.draw(seed="abc", candidates=candidates, strata_fields=["district"], seats=3)
    expected = []
    for key, refs in (('["north"]', ["V-1", "V-2", "V-3"]), ('["south"]', ["V-4", "V-5"])):
        pool = list(refs)
        for j in range(result.quotas[key]):
            h = int.from_bytes(hashlib.sha256(f"civitas-draw/1\nabc\n{key}\n{j}".encode()).digest(), "big")
            expected.append(pool.pop(h % len(pool)))
    assert result.quotas == {'["north"]': 2, '["south"]': 1}
    assert result.selected == expected
