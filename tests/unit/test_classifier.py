"""Tests for the topic classifier."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from newsletter.content.classifier import (
    MIN_DF_FROM_TEXTS,
    Evaluation,
    TopicModel,
    evaluate,
    load_model,
    min_document_frequency,
    read_labelled_csv,
    suggest_topics,
    train_classifier,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"
CSV = FIXTURES / "labelled-topics.csv"


@pytest.fixture(scope="module")
def labelled() -> tuple[list[str], list[str]]:
    return read_labelled_csv(CSV)


@pytest.fixture(scope="module")
def model(labelled: tuple[list[str], list[str]]) -> TopicModel:
    texts, labels = labelled
    return train_classifier(texts, labels)


def test_read_labelled_csv(labelled: tuple[list[str], list[str]]) -> None:
    texts, labels = labelled
    assert len(texts) == len(labels) == 40
    assert set(labels) == {"business", "entertainment", "politics", "sport", "tech"}
    assert texts[0].startswith("The striker scored twice")


def test_read_labelled_csv_accepts_extra_columns_any_order_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        '\ufeffid,Text,Topic\n1,"Hello, world",news\n\n2,Other,tech\n', encoding="utf-8"
    )
    assert read_labelled_csv(path) == (["Hello, world", "Other"], ["news", "tech"])


@pytest.mark.parametrize("header", ["id,text\n", "topic,body\n", "\n", ""])
def test_read_labelled_csv_names_missing_columns(tmp_path: Path, header: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(header + "1,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column.*need 'topic' and 'text'"):
        read_labelled_csv(path)


def test_read_labelled_csv_refuses_a_row_without_topic(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("topic,text\nsport,Goal!\n,No topic here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3"):
        read_labelled_csv(path)


def test_predict_ranks_all_topics_with_probabilities(model: TopicModel) -> None:
    ranked = model.predict("The goalkeeper saved a penalty and the team won the cup final")
    assert ranked[0][0] == "sport"
    assert {topic for topic, _ in ranked} == set(model.topics)
    probabilities = [p for _, p in ranked]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Parliament voted on the minister's bill after a long debate", "politics"),
        ("The bank's shares fell after profits missed forecasts", "business"),
        ("The new laptop processor and software update", "tech"),
        ("The singer's album topped the charts", "entertainment"),
        ("The striker scored in the league match", "sport"),
    ],
)
def test_predict_unseen_texts(model: TopicModel, text: str, topic: str) -> None:
    assert model.predict(text)[0][0] == topic


def test_suggest_topics_keeps_only_confident_ones(model: TopicModel) -> None:
    text = "The striker scored twice in the league match and the team won the cup"
    ranked = model.predict(text)
    threshold = (ranked[0][1] + ranked[1][1]) / 2
    assert suggest_topics(model, text, threshold) == [ranked[0]]
    assert suggest_topics(model, text, 0.0) == ranked
    assert suggest_topics(model, text, 1.01) == []


def test_evaluate_on_training_data_is_perfect(
    model: TopicModel, labelled: tuple[list[str], list[str]]
) -> None:
    texts, labels = labelled
    evaluation = evaluate(model, texts, labels)
    assert isinstance(evaluation, Evaluation)
    assert evaluation.macro_f1 == pytest.approx(1.0)
    assert evaluation.accuracy == pytest.approx(1.0)
    assert evaluation.support == 40
    assert [s.topic for s in evaluation.per_topic] == sorted(set(labels))
    assert all(s.support == 8 for s in evaluation.per_topic)


def test_evaluate_scores_mistakes(model: TopicModel) -> None:
    texts = ["The striker scored a goal", "The striker scored a goal", "Shares fell on profits"]
    labels = ["sport", "politics", "business"]
    evaluation = evaluate(model, texts, labels)
    scores = {s.topic: s for s in evaluation.per_topic}
    assert scores["sport"].precision == pytest.approx(0.5)
    assert scores["sport"].recall == pytest.approx(1.0)
    assert scores["politics"].recall == 0.0
    assert scores["politics"].f1 == 0.0
    assert scores["tech"].support == 0
    # The macro average covers only the topics present in the held-out labels.
    present = [scores[t].f1 for t in ("business", "politics", "sport")]
    assert evaluation.macro_f1 == pytest.approx(sum(present) / 3)
    assert evaluation.accuracy == pytest.approx(2 / 3)


def test_evaluate_refuses_mismatched_or_empty_input(model: TopicModel) -> None:
    with pytest.raises(ValueError):
        evaluate(model, ["a"], [])
    with pytest.raises(ValueError):
        evaluate(model, [], [])


def test_training_needs_two_topics_and_matching_lengths() -> None:
    with pytest.raises(ValueError, match="two topics"):
        train_classifier(["a b", "c d"], ["x", "x"])
    with pytest.raises(ValueError, match="labels"):
        train_classifier(["a b"], ["x", "y"])


def test_character_ngrams_carry_unseen_word_forms(model: TopicModel) -> None:
    # "goalkeepers'" and "footballing" are in no training text; their pieces are.
    assert model.predict("footballing goalkeepers' saves")[0][0] == "sport"


def test_save_and_load_round_trip(model: TopicModel, tmp_path: Path) -> None:
    path = tmp_path / "topics.joblib"
    model.save(path)
    loaded = load_model(path)
    text = "The central bank raised interest rates"
    assert loaded.topics == model.topics
    assert loaded.predict(text) == model.predict(text)


def test_load_refuses_other_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.joblib"
    with pytest.raises(ValueError, match="cannot read"):
        load_model(missing)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"something": "else"}))
    with pytest.raises(ValueError, match="not a topic model"):
        load_model(other)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError):
        load_model(garbage)


def test_the_model_knows_the_language_it_was_trained_on(model: TopicModel) -> None:
    assert model.languages == ("en",)
    assert model.reads("en") and model.reads(None)
    assert not model.reads("fr")


def test_text_in_another_language_gets_no_topic(model: TopicModel) -> None:
    text = "The striker scored twice in the second half of the football match"
    assert suggest_topics(model, text, 0.0, language="en")
    assert suggest_topics(model, text, 0.0) == suggest_topics(model, text, 0.0, language="en")
    # Told the article is French, the English model abstains rather than guess.
    assert suggest_topics(model, text, 0.0, language="fr") == []


def test_a_format_2_model_reads_english_only(model: TopicModel, tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "old.joblib"
    old = TopicModel(pipeline=model.pipeline, topics=model.topics)
    joblib.dump({"format": 2, "model": old}, path)
    loaded = load_model(path)
    assert loaded.languages == ("en",)
    assert not loaded.reads("de")


def _words_read(model: TopicModel) -> set[str]:
    vectoriser = model.pipeline.named_steps["tfidf"].transformer_list[0][1]
    return set(vectoriser.vocabulary_)


def test_a_small_training_set_keeps_words_seen_once(
    model: TopicModel, labelled: tuple[list[str], list[str]]
) -> None:
    texts, _ = labelled
    assert min_document_frequency(len(texts)) == 1
    # "goalkeeper" is in one of the 40 fixture texts only; the model still reads it.
    assert sum("goalkeeper" in text.lower() for text in texts) == 1
    assert "goalkeeper" in _words_read(model)


def test_a_large_training_set_reads_only_ngrams_in_two_texts() -> None:
    assert min_document_frequency(MIN_DF_FROM_TEXTS - 1) == 1
    assert min_document_frequency(MIN_DF_FROM_TEXTS) == 2
    topics = ["sport", "business"] * (MIN_DF_FROM_TEXTS // 2)
    texts = [
        f"the {topic} story number w{i}x and more {topic} news" for i, topic in enumerate(topics)
    ]
    model = train_classifier(texts, topics)
    words = _words_read(model)
    assert {"sport", "business", "news"} <= words
    # Each "w<i>x" token is in one text only: not read.
    assert not any(word.startswith("w") and word.endswith("x") for word in words)
