"""The external-id -> uid mapping, held to the reference implementation's own answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cometchat import ValidationError, to_cometchat_uid

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "data" / "uid-mapping-vectors.json").read_text("utf-8"))["vectors"]
VALID_UID = re.compile(r"[a-z0-9_-]{1,100}")


@pytest.mark.parametrize("vector", VECTORS, ids=[v["uid"][:30] for v in VECTORS])
def test_reference_vectors(vector: dict) -> None:
    assert to_cometchat_uid(vector["id"]) == vector["uid"]


@pytest.mark.parametrize("bad", ["", None, 5])
def test_an_empty_or_non_text_id_has_no_uid(bad) -> None:
    with pytest.raises(ValidationError):
        to_cometchat_uid(bad)


def test_a_surrogate_pair_given_as_two_code_points_hashes_as_one() -> None:
    # JavaScript sees one code point either way; the hash must too.
    assert to_cometchat_uid("\ud83d\ude00") == to_cometchat_uid("😀") == "___2r5s"


def test_a_lone_surrogate_is_one_code_unit() -> None:
    assert to_cometchat_uid("a\ud800").startswith("a__")


@given(st.text(min_size=1, max_size=300))
def test_always_a_valid_uid_and_deterministic(external_id: str) -> None:
    uid = to_cometchat_uid(external_id)
    assert VALID_UID.fullmatch(uid)
    assert to_cometchat_uid(external_id) == uid


@given(st.from_regex(VALID_UID, fullmatch=True))
def test_a_valid_lowercase_uid_is_kept_as_it_is(uid: str) -> None:
    assert to_cometchat_uid(uid) == uid
    assert to_cometchat_uid(to_cometchat_uid(uid)) == uid


@given(st.text(min_size=1, max_size=300))
def test_mapping_a_mapped_uid_again_changes_nothing(external_id: str) -> None:
    uid = to_cometchat_uid(external_id)
    assert to_cometchat_uid(uid) == uid
