"""The verifier fed crafted model outputs over a fake-encoded seeds index (fast tier).

Each kind of bad output must be caught (fabricated quote, frankenquote, a number, date or name the
quote lacks, a sentence unrelated to its quote) and each benign difference accepted (whitespace,
curly vs straight quote marks, a true quote credited to the wrong passage: re-attributed).
"""

from __future__ import annotations

import pytest
from fakes import fake_index

from rag import search
from rag.query.verify import claims, locate, missing_claims, normalized, verify_sentence

QUESTION = "How far had Zaluzhny's troops advanced since the counteroffensive began?"
ADVANCE = "his troops had only advanced less than eleven miles"
ADVANCE_SENTENCE = ("The general said that since Ukraine's highly publicized counteroffensive against Russia "
                    "began in early summer last year, his troops had only advanced less than eleven miles.")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    with fake_index(tmp_path_factory.mktemp("verify") / "index") as index:
        yield index


@pytest.fixture(scope="module")
def passages(index):
    found = search(index, QUESTION, 6)
    assert ADVANCE in found[1].chunk.text and "“significant leverage”" in found[2].chunk.text
    return found


def check(index, passages, sentence, quote, cited, threshold=0.3, min_words=3):
    return verify_sentence(index, passages, sentence, quote, cited, min_quote_words=min_words,
                           support_cosine=threshold)


def span_text(index, verdict):
    return index.documents[verdict.passage.chunk.doc_id].text[verdict.start:verdict.end]


def test_a_true_quote_is_kept_with_exact_offsets(index, passages):
    verdict = check(index, passages, "His troops had only advanced less than eleven miles.", ADVANCE, 2)
    assert verdict.kept and verdict.reason == "ok" and not verdict.reattributed
    assert verdict.passage is passages[1]
    assert span_text(index, verdict) == ADVANCE


def test_a_fabricated_quote_is_dropped(index, passages):
    verdict = check(index, passages, "His troops advanced eleven miles.",
                    "his troops had advanced a full eleven miles by autumn", 2)
    assert not verdict.kept and verdict.reason == "quote not found in any retrieved passage"


def test_a_frankenquote_stitched_from_two_places_is_dropped(index, passages):
    text = passages[1].chunk.text
    assert "The general said that" in text and "less than eleven miles" in text
    stitched = "The general said that his troops had only advanced less than eleven miles"
    assert stitched not in " ".join(text.split())  # each half is real, the whole is not
    assert locate(index, "The general said that", passages, 2) is not None
    verdict = check(index, passages, "The general said his troops advanced less than eleven miles.", stitched, 2)
    assert not verdict.kept and "not found" in verdict.reason


def test_a_true_quote_credited_to_the_wrong_passage_is_reattributed(index, passages):
    assert ADVANCE not in passages[2].chunk.text
    verdict = check(index, passages, "His troops had only advanced less than eleven miles.", ADVANCE, 3)
    assert verdict.kept and verdict.reattributed and verdict.reason == "reattributed"
    assert ADVANCE in verdict.passage.chunk.text and span_text(index, verdict) == ADVANCE


def test_an_out_of_range_passage_number_is_searched_everywhere(index, passages):
    verdict = check(index, passages, "His troops had only advanced less than eleven miles.", ADVANCE, 99)
    assert verdict.kept and not verdict.reattributed and verdict.passage is passages[0]  # rank order


def test_a_sentence_adding_a_number_its_quote_lacks_is_dropped(index, passages):
    verdict = check(index, passages, "His troops had only advanced less than twelve miles.", ADVANCE, 2)
    assert not verdict.kept and verdict.missing == ("12",)
    assert not check(index, passages, "In 40 days his troops had only advanced less than eleven miles.",
                     ADVANCE, 2).kept


def test_digits_and_number_words_are_the_same_number(index, passages):
    assert check(index, passages, "His troops had only advanced less than 11 miles.", ADVANCE, 2).kept


def test_a_proper_name_missing_from_the_quote_is_dropped(index, passages):
    verdict = check(index, passages, "Zaluzhny's troops had only advanced less than eleven miles.", ADVANCE, 2)
    assert not verdict.kept and verdict.missing == ("zaluzhny",)
    verdict = check(index, passages, "His troops had only advanced less than eleven miles, Gerasimov said.",
                    ADVANCE, 2)
    assert not verdict.kept and "gerasimov" in verdict.missing


def test_a_date_missing_from_the_quote_is_dropped(index, passages):
    verdict = check(index, passages, "By November his troops had only advanced less than eleven miles.",
                    ADVANCE, 2)
    assert not verdict.kept and verdict.missing == ("november",)


def test_names_numbers_and_dates_in_the_quote_are_accepted(index, passages):
    quote = "since Ukraine's highly publicized counteroffensive against Russia began in early summer last year"
    verdict = check(index, passages, "Ukraine's counteroffensive against Russia began in early summer.", quote, 2)
    assert verdict.kept, verdict.reason


def test_whitespace_and_curly_quote_marks_are_normalized(index, passages):
    doc_text = index.documents[passages[2].chunk.doc_id].text
    quote = 'gives the US   "significant\nleverage" on Kiev'  # straight marks, extra whitespace
    verdict = check(index, passages, 'That gives the US "significant leverage" on Kiev.', quote, 3)
    assert verdict.kept, verdict.reason
    assert span_text(index, verdict) == "gives the US “significant leverage” on Kiev"
    assert doc_text[verdict.start:verdict.end] == span_text(index, verdict)


def test_quote_marks_and_ellipses_around_the_quote_are_ignored(index, passages):
    verdict = check(index, passages, "His troops had only advanced less than eleven miles.",
                    f"“…{ADVANCE}…”", 2)
    assert verdict.kept and span_text(index, verdict) == ADVANCE


def test_case_still_matters_in_the_quote(index, passages):
    assert not check(index, passages, "His troops had only advanced less than eleven miles.",
                     ADVANCE.upper(), 2).kept


def test_a_sentence_far_from_its_quote_is_dropped(index, passages):
    verdict = check(index, passages, "It takes about eleven minutes to boil pasta in salted water.", ADVANCE, 2,
                    threshold=0.3)
    assert not verdict.kept and verdict.reason.startswith("cosine") and verdict.cosine < 0.3


def test_the_threshold_decides(index, passages):
    sentence = "His troops advanced less than eleven miles."
    loose = check(index, passages, sentence, ADVANCE, 2, threshold=-1.0)
    assert loose.kept
    assert not check(index, passages, sentence, ADVANCE, 2, threshold=loose.cosine + 1e-3).kept


def test_a_quote_too_short_supports_nothing(index, passages):
    assert not check(index, passages, "Troops advanced.", "troops had", 2).kept


def test_claims_skip_a_common_opening_word_but_not_a_name():
    assert claims("The Economist interviewed him in 2023.") == ["economist", "2023"]
    assert claims("Zaluzhny spoke on Nov. 1.") == ["zaluzhny", "november", "1"]
    assert claims("Troops advanced.", {"troops"}) == []
    assert claims("Troops advanced.") == ["troops"]


def test_missing_claims_compare_canonical_forms():
    assert missing_claims("It was December 4, 2023.", "on December 04, 2023") == []
    assert missing_claims("It cost 1,000 dollars.", "a cost of 1000 dollars") == []
    assert missing_claims("It cost 2,000 dollars.", "a cost of 1000 dollars") == ["2000"]


def test_normalized_maps_back_to_original_offsets():
    text = "a  “b”\n\tc"
    flat, offsets = normalized(text)
    assert flat == 'a "b" c'
    assert [text[i] for i in offsets] == ["a", " ", "“", "b", "”", "\n", "c"]
