"""ThemeModel: TF-IDF + NMF themes, the number of themes by silhouette, comments weighted on their
own; a Japanese sample shows that character n-grams find themes without a tokenizer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from customer_retention.models import themes
from customer_retention.models.themes import (
    ThemeModel,
    agreement,
    distinct_terms,
    normalise_text,
    resolve_analyzer,
)

# Sixty short Japanese comments in three clear themes (20 each), written with the variety of
# real answers: synonyms (料金 / 価格 / 値段 / 値上げ; 返信 / 返事 / 回答), politeness levels,
# endings. Japanese is written without spaces: a word tokenizer sees one "word" per comment.
PRICE = [
    "料金が高すぎます。",
    "値上げされたので解約を考えています。",
    "月額料金が予算に合いません。",
    "価格が高いわりに機能が少ない。",
    "もう少し安ければ続けたいです。",
    "料金プランが高くて社内の承認が下りません。",
    "更新時に値段が上がって驚きました。",
    "コストが高すぎて他のサービスに比べて割高です。",
    "価格改定で料金が倍になりました。",
    "ユーザー数が増えると料金が高くなりすぎる。",
    "年間契約の価格が高い。",
    "値上げが続いていて困っています。",
    "料金に見合う価値を感じません。",
    "割引がなくなって高くなった。",
    "予算が削減され、この料金は払えません。",
    "一人あたりの料金が高いです。",
    "安いプランがあれば助かります。",
    "請求額が思ったより高かった。",
    "値段が高いので小さいチームには向かない。",
    "料金体系が分かりにくく、結局高くつく。",
]
SUPPORT = [
    "サポートの返信が遅すぎます。",
    "問い合わせをしても三日間返事がありませんでした。",
    "サポート担当者の対応が悪い。",
    "チケットを送っても誰も対応してくれない。",
    "サポートに何度も連絡しましたが解決しません。",
    "問い合わせへの回答がいつも遅い。",
    "サポート窓口に電話がつながらない。",
    "返信が来るまで一週間かかった。",
    "サポートの対応が不親切でした。",
    "問い合わせの返事が遅くて業務が止まった。",
    "サポートチームがなかなか返信してくれない。",
    "メールで問い合わせたが回答がない。",
    "サポートの回答が的外れで役に立たない。",
    "急ぎの問題でもサポートの対応が遅い。",
    "担当者によって対応がばらばらです。",
    "サポートへの問い合わせが放置されている。",
    "返信が遅く、何度も催促しました。",
    "サポートの対応時間が短すぎる。",
    "チャットで問い合わせても返事が来ない。",
    "サポートの質が下がったと感じます。",
]
CRASHES = [
    "アプリがすぐに落ちます。",
    "起動するとアプリがクラッシュする。",
    "大きなレポートを開くとアプリが固まる。",
    "アップデートの後、アプリが頻繁に落ちるようになった。",
    "スマホのアプリがフリーズして使えない。",
    "ログインするとアプリが強制終了します。",
    "アプリが重くて何度もクラッシュした。",
    "データ同期中にアプリが落ちてデータが消えた。",
    "アプリが起動しないことがよくある。",
    "画面が固まってアプリを再起動するしかない。",
    "アプリのバグが多く、すぐ落ちる。",
    "毎日のようにアプリがクラッシュします。",
    "アプリがフリーズして作業が進まない。",
    "最新版のアプリは不安定で落ちやすい。",
    "ダッシュボードを開くとアプリが強制終了する。",
    "アプリが突然閉じてしまう。",
    "タブレットでアプリがクラッシュし続ける。",
    "アプリの動作が不安定で頻繁にフリーズする。",
    "エクスポート中にアプリが落ちた。",
    "アプリが落ちるたびに入力した内容が消える。",
]
JAPANESE = PRICE + SUPPORT + CRASHES
JAPANESE_THEMES = ["price"] * 20 + ["support"] * 20 + ["crashes"] * 20

ENGLISH = {
    "price": ("price", "expensive", "cost", "invoice", "budget", "renewal"),
    "support": ("support", "ticket", "answer", "agent", "waiting", "helpdesk"),
    "crashes": ("crash", "outage", "freeze", "bug", "reboot", "error"),
}
FILLERS = ("really", "again", "today", "honestly", "always", "lately")


def _english(per_theme: int = 40) -> tuple[list[str], list[str]]:
    """Comments of three words of one theme (in any combination) and a filler word."""
    rng = np.random.default_rng(0)
    texts, themes = [], []
    for theme, words in ENGLISH.items():
        for _ in range(per_theme):
            chosen = rng.choice(words, 3, replace=False).tolist() + [rng.choice(FILLERS)]
            texts.append(" ".join(rng.permutation(chosen)))
            themes.append(theme)
    return texts, themes


@pytest.fixture(scope="module")
def japanese() -> tuple[ThemeModel, pd.DataFrame]:
    model = ThemeModel().fit(JAPANESE)  # the stage's defaults: char_wb, 3..12 themes
    return model, model.assign(JAPANESE)


def test_character_ngrams_find_the_japanese_themes_without_a_tokenizer(japanese):
    """ARI >= 0.7. With three themes of 20 comments, 0.7 is about six of the sixty comments
    in the wrong theme (five misplaced: 0.77, eight: 0.64), or one theme split in two with a
    few misplaced (one clean split alone: 0.86); a random assignment scores about 0. Measured:
    four themes chosen (the support theme split into 対応 and 問い合わせ/回答 comments), ARI
    0.80; at three themes (n_themes=3) 0.95."""
    model, assigned = japanese
    assert model.analyzer_ == "char_wb"
    assert model.vectorizer_.ngram_range == (2, 2)  # bigrams: a script without spaces
    ari = adjusted_rand_score(JAPANESE_THEMES, assigned["theme"])
    assert ari >= 0.7, (ari, model.n_themes_)
    assert 3 <= model.n_themes_ <= 4
    fixed = ThemeModel(3).fit(JAPANESE)
    assert adjusted_rand_score(JAPANESE_THEMES, fixed.assign(JAPANESE)["theme"]) >= 0.9
    # Each theme's comments are (nearly) all of one planted theme: the themes are coherent.
    table = pd.crosstab(assigned["theme"], pd.Series(JAPANESE_THEMES))
    assert (table.max(axis=1) / table.sum(axis=1)).min() >= 0.8


def test_japanese_labels_are_content_words(japanese):
    model, _ = japanese
    labels = " ".join(" ".join(terms) for terms in model.theme_terms_)
    for word in ("アプリ", "料金", "サポート"):
        assert word in labels, model.theme_terms_
    # Endings and particles alone are not labels.
    for terms in model.theme_terms_:
        assert all(t not in ("ない", "する", "ます", "です") for t in terms)


def test_the_word_analyzer_cannot_read_japanese():
    """Without spaces every comment is one 'word' seen once: no term survives min_df=2."""
    with pytest.raises(ValueError, match="no terms remain"):
        ThemeModel(analyzer="word").fit(JAPANESE)
    assert resolve_analyzer("auto", normalise_text(JAPANESE)) == "char_wb"
    assert resolve_analyzer("auto", normalise_text(_english()[0])) == "word"


def test_fit_returns_self_with_fitted_attributes_and_the_selection():
    texts, themes = _english()
    model = ThemeModel(min_themes=2, max_themes=5, min_theme_comments=3)
    assert model.fit(texts) is model
    for attribute in ("analyzer_", "vectorizer_", "terms_", "components_", "n_themes_"):
        assert hasattr(model, attribute)
    selection = model.selection_
    assert list(selection["n_themes"]) == [2, 3, 4, 5]
    assert selection["chosen"].sum() == 1
    assert model.n_themes_ == 3 == selection.loc[selection["silhouette"].idxmax(), "n_themes"]
    assert adjusted_rand_score(themes, model.assign(texts)["theme"]) == pytest.approx(1.0)
    sizes = model.assign(texts)["theme"].value_counts().sort_index().to_numpy()
    assert (np.diff(sizes) <= 0).all()  # theme 0 is the largest
    assert ThemeModel(4).fit(texts).selection_ is None


def test_a_comments_weights_do_not_depend_on_the_other_comments():
    texts, _ = _english()
    model = ThemeModel(3).fit(texts)
    together = model.transform(texts)
    alone = np.vstack([model.transform([t]) for t in texts[:10]])
    np.testing.assert_allclose(alone, together[:10], rtol=1e-10, atol=1e-12)
    assigned = model.assign(["", "zzzz qqqq", *texts[:2]])
    assert list(assigned["theme"][:2]) == [-1, -1]  # no known term: no theme
    assert assigned["weight"].between(0, 1).all()


def test_representatives_are_distinct_and_of_their_theme():
    texts, themes = _english()
    model = ThemeModel(3).fit(texts)
    assigned = model.assign(texts)
    examples = model.representatives(texts, assigned, 3)
    assert [len(e) for e in examples] == [3, 3, 3]
    for theme, rows in enumerate(examples):
        assert len({normalise_text([r])[0] for r in rows}) == 3
        own = {texts[i] for i in np.flatnonzero(assigned["theme"] == theme)}
        assert set(rows) <= own


def test_text_normalisation():
    assert normalise_text(["ＡＢＣ　１２３", None, np.nan, " See https://x.io NOW "]) == [
        "abc 0",
        "",
        "",
        "see now",
    ]
    assert normalise_text(["ｻﾎﾟｰﾄ"]) == ["サポート"]  # half-width katakana


def test_label_terms_are_distinct():
    assert distinct_terms(["pric", "price", "rice", " price ", "cost"], 3) == ["price", "cost"]
    assert distinct_terms(["the", "price"], 2, frozenset({"the"})) == ["price"]


def test_agreement_with_planted_themes():
    result = agreement([1, 1, 2, 2, 3], ["a", "a", "b", "b", "c"])
    assert result["adjusted_rand_index"] == pytest.approx(1.0)
    assert [p["found_theme"] for p in result["planted"]] == [1, 2, 3]
    assert agreement([1, 2, 1, 2], ["a", "a", "b", "b"])["adjusted_rand_index"] < 0.1


def test_reused_rows_and_the_cache_give_exactly_a_fresh_models_weights():
    """The rows of the fitted comments are reused and results are cached: the weights equal,
    bit for bit, those of the same themes rebuilt from storage (which has neither)."""
    texts, _ = _english()
    model = ThemeModel(3, random_state=1).fit(texts[:90])
    keys = sorted({*normalise_text(texts), "new words entirely"})
    reused, fresh = model._vectors(keys), model.vectorizer_.transform(keys)
    assert (reused != fresh).nnz == 0 and reused.shape == fresh.shape
    stored = ThemeModel.from_dict(model.to_dict())
    mixed = [*texts, "new words entirely", "", texts[3]]
    first = model.transform(mixed)
    np.testing.assert_array_equal(first, stored.transform(mixed))  # from the cache
    themes._TRANSFORMS.clear()
    np.testing.assert_array_equal(first, stored.transform(mixed))  # computed afresh
