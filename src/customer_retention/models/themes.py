"""Themes in free-text comments: TF-IDF vectors factorised by non-negative matrix factorisation.

Method (``ThemeModel``):

1. **Text.** Unicode NFKC (full-width Latin letters and digits become ASCII, half-width
   katakana full-width), lower case, web and e-mail addresses removed, digit runs replaced by
   ``0`` (``3 days`` and ``5 days`` read the same), white space collapsed. The factorisation
   is fitted on the distinct comments (``deduplicate``): a reply pasted a thousand times would
   otherwise become a theme of its own; every comment is then weighted on its own.
2. **Vectors.** TF-IDF with sublinear term frequency and rows of unit length. ``analyzer``:
   ``char_wb`` (character n-grams inside word boundaries: languages written without spaces,
   such as Japanese or Chinese, need no tokenizer, and inflections and typos -- "crash",
   "crashes", "crashing", "crsahes" -- share most of their n-grams), ``word`` (words, English
   stop words dropped by default), or ``auto``: ``char_wb`` when most letters of the comments
   belong to scripts written without spaces (CJK ideographs, kana, Thai, Lao, Khmer,
   Myanmar), else ``word``. N-grams: (3, 5) characters, character bigrams in scripts without
   spaces (the usual unit of Japanese and Chinese retrieval without a segmenter; on the
   Japanese test sample bigrams gave the cleanest themes, ARI 0.95 at three themes against
   0.73 for (2, 3)), (1, 1) words, unless ``ngram_range`` is given.
3. **Themes.** X ~ W H with W, H >= 0 (Lee & Seung 1999, "Learning the parts of objects by
   non-negative matrix factorization", Nature 401; 2001, "Algorithms for non-negative matrix
   factorization", NIPS 13), Frobenius loss (beta = 2 in the beta-divergence family of
   Fevotte & Idier 2011, "Algorithms for nonnegative matrix factorization with the
   beta-divergence", Neural Computation 23), scikit-learn's coordinate-descent solver
   (Cichocki & Phan 2009) from an NNDSVDa start (Boutsidis & Gallopoulos 2008, "SVD based
   initialization", Pattern Recognition 41), so that a fit is deterministic. Each row of H is
   a theme over the terms. Its label is its top terms: for words, the words; for character
   n-grams in spaced scripts, the most frequent word of the theme's comments containing each
   top n-gram; without spaces, top n-grams joined where they overlap in the theme's comments
   ("サポ" + "ポート" -> "サポート"), trimmed of punctuation and edge particles, pieces of
   hiragana alone (endings such as "ない") left out. Themes are numbered by size, largest
   first.
4. **Number of themes.** With ``n_themes="auto"``, k in [``min_themes``, ``max_themes``] is
   the one whose assignment of the comments to themes has the highest mean silhouette
   (Rousseeuw 1987, "Silhouettes: a graphical aid to the interpretation and validation of
   cluster analysis", J. Comput. Appl. Math. 20), computed on the comments' own TF-IDF
   vectors with the cosine distance -- the same space whatever k, unlike the document-topic
   matrix, whose dimension is k itself. A comment's silhouette is (b - a) / max(a, b), a its
   mean distance to the comments of its theme and b to those of the nearest other theme: k
   too small puts comments of different themes together (a grows), k too large splits a
   theme so that its comments sit as close to the other half as to their own (b shrinks).
   On the demo data (8 planted themes) it chose 8 among 3..12 and the assignment agreed with
   the plant at an adjusted Rand index of 0.99. Tried first: top-term stability across
   subsamples (Greene, O'Callaghan & Cunningham 2014, ECML PKDD) chose 7 there (ARI 0.97) but
   3 on an earlier version of the demo whose themes had sub-themes, and staNMF's dictionary
   stability across seeds (Wu et al. 2016, PNAS 113) was perfect at 3 and 4 themes: merging
   themes is as reproducible as finding them. Topic coherence (NPMI) needs co-occurrence
   within longer texts than one-line comments. A k with a theme of fewer than
   ``min_theme_comments`` distinct comments is not chosen: on small samples the silhouette
   keeps rising as themes shrink to a handful of near-identical comments (the 60-comment
   Japanese test sample: 0.140 at 4 themes, 0.165 at 8 themes, the smallest of 4 comments).
   Up to ``max_selection_comments`` distinct comments, drawn at random, are used for the
   choice.
5. **Weights.** A comment's theme weights w >= 0 solve min ||x - w H||^2 with H fixed, a
   non-negative least-squares problem in k unknowns (Lawson & Hanson 1974) solved per comment:
   once the themes are fitted, a comment's theme never depends on the other comments. The
   comment's theme is its largest weight and ``weight`` that weight's share of the comment's
   total (1: purely one theme); a comment without any term of the vocabulary gets no theme
   (-1, weight 0).

Plain numpy, scipy and scikit-learn; no Kedro.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import nnls
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score
from threadpoolctl import threadpool_limits

ANALYZERS = ("auto", "word", "char_wb")
# Scripts written without spaces between words: CJK ideographs, hiragana, katakana, Thai,
# Lao, Myanmar, Khmer, half-width katakana (Korean is written with spaces).
_UNSPACED = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f"
    "\u1780-\u17ff\uff66-\uff9f]"
)
_URL = re.compile(r"(https?://|www\.)\S+|\S+@\S+\.\S+")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_EDGE_PUNCTUATION = "。、，．！？!?.,;:・「」『』()（）[]【】 "
_PARTICLES = "のがをにではもへやと"
_HIRAGANA = re.compile("[\u3040-\u309f]")
DEFAULT_NGRAMS = {"word": (1, 1), "char_wb": (3, 5), "char_wb_unspaced": (2, 2)}
LABEL_COMMENTS = 300  # comments of a theme read to turn its top n-grams into words


def _normalise_one(text: Any) -> str:
    if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = _DIGITS.sub("0", _URL.sub(" ", text))
    return _SPACE.sub(" ", text).strip()


def normalise_text(texts: Iterable[Any]) -> list[str]:
    """Comments as the vectoriser sees them (module docstring, step 1); missing values
    become empty strings. Each distinct text is normalised once (a feedback export repeats
    its comments: 634k comments, 71k distinct, in the 1M-customer demo)."""
    values = pd.Series(list(texts), dtype=object)
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    normalised = np.array([_normalise_one(text) for text in distinct], dtype=object)
    return normalised[codes].tolist() if len(codes) else []


def unspaced_share(texts: Sequence[str]) -> float:
    """Share of the comments' letters that belong to scripts written without spaces."""
    letters = sum(sum(ch.isalpha() for ch in t) for t in texts)
    unspaced = sum(len(_UNSPACED.findall(t)) for t in texts)
    return unspaced / letters if letters else 0.0


def resolve_analyzer(analyzer: str, texts: Sequence[str]) -> str:
    """``word`` or ``char_wb``; ``auto`` decides by :func:`unspaced_share` (> 0.5: char_wb)."""
    if analyzer not in ANALYZERS:
        raise ValueError(f"analyzer must be one of {ANALYZERS}, not {analyzer!r}")
    if analyzer != "auto":
        return analyzer
    return "char_wb" if unspaced_share(texts) > 0.5 else "word"


def distinct_terms(ranked: Iterable[str], count: int, stop_words=frozenset()) -> list[str]:
    """The first ``count`` terms of a ranking, without stop words, a term inside a chosen one
    skipped and a chosen one inside a later term replaced by it."""
    chosen: list[str] = []
    for term in ranked:
        term = term.strip()
        if not term or term in stop_words or any(term in c for c in chosen):
            continue
        inside = [c for c in chosen if c in term]
        if inside:
            chosen[chosen.index(inside[0])] = term
            chosen = [c for c in chosen if c not in inside[1:]]
        else:
            chosen.append(term)
        if len(chosen) == count:
            break
    return chosen


def _join_overlapping(pieces: list[str], texts: Sequence[str]) -> list[str]:
    """Join two pieces where one ends as the other starts (overlap of at least one
    character) and the joined string occurs in ``texts``; repeated until nothing joins."""
    corpus = "\n".join(texts)
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(pieces):
            for j, b in enumerate(pieces):
                if i == j:
                    continue
                for overlap in range(min(len(a), len(b)) - 1, 0, -1):
                    if a[-overlap:] == b[:overlap] and (a + b[overlap:]) in corpus:
                        pieces = [p for n, p in enumerate(pieces) if n not in (i, j)]
                        pieces.insert(min(i, j), a + b[overlap:])
                        changed = True
                        break
                if changed:
                    break
            if changed:
                break
    return pieces


def _trim_unspaced(piece: str) -> str:
    """A label piece without edge punctuation and edge particles; empty when only hiragana
    (an ending or a particle, not a content word) is left."""
    piece = piece.strip(_EDGE_PUNCTUATION)
    while piece[:1] and piece[0] in _PARTICLES:
        piece = piece[1:]
    while piece[-1:] and piece[-1] in _PARTICLES:
        piece = piece[:-1]
    content = [ch for ch in piece if ch.isalpha() and not _HIRAGANA.match(ch)]
    return piece if content and len(piece) > 1 else ""


class ThemeModel:
    """TF-IDF + NMF themes, the number of themes chosen by silhouette (module docstring).

    Args:
        n_themes: ``"auto"`` (chosen in [min_themes, max_themes]) or a number.
        min_themes, max_themes: the range searched with ``"auto"``.
        analyzer: ``auto``, ``word`` or ``char_wb``.
        ngram_range: (low, high) n-gram lengths; None: the defaults of step 2.
        min_df: a term must occur in at least this many distinct comments.
        max_df: terms in more than this share of the distinct comments are dropped.
        max_features: the vocabulary keeps the most frequent terms up to this number.
        stop_words: ``"english"`` or None (dropped by the word analyzer and from labels).
        max_selection_comments: distinct comments used to choose k (a random sample above).
        min_theme_comments: a k whose smallest theme holds fewer distinct comments is not
            chosen (unless no k qualifies: then the smallest k).
        top_terms: terms in each theme's label.
        max_iter, tol: of the NMF solver.
        deduplicate: fit on the distinct normalised comments (step 1).
        random_state: seeds the selection sample and the solver.

    Fitted attributes: ``analyzer_``, ``vectorizer_``, ``terms_``, ``components_`` (H, themes
    x terms, largest theme first), ``n_themes_``, ``theme_terms_`` (label terms per theme),
    ``selection_`` (one row per k: silhouette, smallest theme in comments and share,
    reconstruction error, chosen; None when n_themes is a number), ``reconstruction_err_``, ``n_comments_``
    (distinct comments fitted).
    """

    def __init__(
        self,
        n_themes: int | str = "auto",
        *,
        min_themes: int = 3,
        max_themes: int = 12,
        analyzer: str = "char_wb",
        ngram_range: tuple[int, int] | None = None,
        min_df: int = 2,
        max_df: float = 0.5,
        max_features: int | None = 20_000,
        stop_words: str | None = "english",
        max_selection_comments: int = 3000,
        min_theme_comments: int = 10,
        top_terms: int = 6,
        max_iter: int = 500,
        tol: float = 1e-4,
        deduplicate: bool = True,
        random_state: int = 0,
    ) -> None:
        self.n_themes = n_themes
        self.min_themes = min_themes
        self.max_themes = max_themes
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.stop_words = stop_words
        self.max_selection_comments = max_selection_comments
        self.min_theme_comments = min_theme_comments
        self.top_terms = top_terms
        self.max_iter = max_iter
        self.tol = tol
        self.deduplicate = deduplicate
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def _vectorizer(self, analyzer: str, unspaced: bool) -> TfidfVectorizer:
        default = "char_wb_unspaced" if analyzer == "char_wb" and unspaced else analyzer
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=tuple(self.ngram_range or DEFAULT_NGRAMS[default]),
            min_df=self.min_df,
            max_df=self.max_df,
            max_features=self.max_features,
            stop_words=self.stop_words if analyzer == "word" else None,
            sublinear_tf=True,
            lowercase=False,  # normalise_text did it
            dtype=np.float64,
        )

    def _factorise(self, X, k: int) -> NMF:
        return NMF(
            n_components=k,
            init="nndsvda",
            solver="cd",
            beta_loss="frobenius",
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
        ).fit(X)

    def _select(self, X) -> pd.DataFrame:
        """One row per k: the mean silhouette of the comments' themes, the smallest theme's
        size and share, the reconstruction error; ``chosen`` marks the highest silhouette
        among the k whose themes all hold ``min_theme_comments`` (the smaller k on a tie)."""
        rng = np.random.default_rng(self.random_state)
        if X.shape[0] > self.max_selection_comments:
            X = X[np.sort(rng.choice(X.shape[0], self.max_selection_comments, replace=False))]
        X = X[np.asarray(X.getnnz(axis=1)) > 0]
        highest = min(self.max_themes, X.shape[0] - 1, X.shape[1] - 1)
        if highest < self.min_themes:
            raise ValueError(
                f"too few comments or terms ({X.shape[0]} x {X.shape[1]}) for "
                f"{self.min_themes} themes"
            )
        distances = pairwise_distances(X, metric="cosine")
        rows = []
        for k in range(self.min_themes, highest + 1):
            nmf = self._factorise(X, k)
            theme, _ = _assign(_weights(X, nmf.components_))
            sizes = np.bincount(theme[theme >= 0], minlength=k)
            score = -1.0
            if 1 < len(np.unique(theme)) < len(theme):
                score = float(silhouette_score(distances, theme, metric="precomputed"))
            rows.append(
                {
                    "n_themes": k,
                    "silhouette": score,
                    "smallest_theme_comments": int(sizes.min()),
                    "smallest_theme_share": float(sizes.min() / max(sizes.sum(), 1)),
                    "reconstruction_error": float(nmf.reconstruction_err_),
                }
            )
        selection = pd.DataFrame(rows)
        eligible = selection[selection["smallest_theme_comments"] >= self.min_theme_comments]
        if eligible.empty:
            eligible = selection.head(1)
        chosen = int(eligible.loc[eligible["silhouette"].idxmax(), "n_themes"])
        selection["chosen"] = selection["n_themes"] == chosen
        return selection

    def fit(self, texts: Iterable[Any], y: None = None) -> ThemeModel:
        """Fit the vocabulary, choose the number of themes and factorise; returns self
        (``y`` is ignored, as in scikit-learn's unsupervised estimators).

        BLAS runs on one thread meanwhile: the matrices are small, and several threads per
        product made the fits ~40 times slower on a busy two-core machine (measured).
        """
        with _one_blas_thread():
            return self._fit(texts)

    def _fit(self, texts: Iterable[Any]) -> ThemeModel:
        docs = [t for t in normalise_text(texts) if t]
        if self.deduplicate:
            docs = list(dict.fromkeys(docs))
        self.analyzer_ = resolve_analyzer(self.analyzer, docs)
        unspaced = unspaced_share(docs) > 0.5
        # fit() then transform(): fit_transform() gives a matrix that differs by ~1e-14.
        self.vectorizer_ = self._vectorizer(self.analyzer_, unspaced).fit(docs)
        self.terms_ = self.vectorizer_.get_feature_names_out()
        X = self.vectorizer_.transform(docs)
        self._fitted_rows = ({doc: i for i, doc in enumerate(docs)}, X)
        if self.n_themes == "auto":
            self.selection_ = self._select(X)
            k = int(self.selection_.loc[self.selection_["chosen"], "n_themes"].iat[0])
        else:
            self.selection_, k = None, int(self.n_themes)
        nmf = self._factorise(X, k)
        theme, share = _assign(_weights(X, nmf.components_))
        order = np.argsort(-np.bincount(theme[theme >= 0], minlength=k), kind="stable")
        self.components_ = nmf.components_[order]
        self.reconstruction_err_ = float(nmf.reconstruction_err_)
        self.n_themes_ = k
        self.n_comments_ = len(docs)
        rank = np.argsort(order)  # old theme number -> new
        theme = np.where(theme >= 0, rank[np.maximum(theme, 0)], -1)
        strongest = np.argsort(-share, kind="stable")
        self.theme_terms_ = [
            self._label(j, [docs[i] for i in strongest if theme[i] == j]) for j in range(k)
        ]
        return self

    def _label(self, theme: int, texts: list[str]) -> list[str]:
        """Label terms of one theme (module docstring, step 3); ``texts`` strongest first."""
        ranked = self.terms_[np.argsort(-self.components_[theme], kind="stable")[:200]]
        stop = ENGLISH_STOP_WORDS if self.stop_words == "english" else frozenset()
        if self.analyzer_ == "word":
            return distinct_terms(ranked, self.top_terms, stop)
        texts = texts[:LABEL_COMMENTS]
        if unspaced_share(texts) > 0.5:
            pieces = distinct_terms(ranked, 3 * self.top_terms)
            trimmed = (_trim_unspaced(p) for p in _join_overlapping(pieces, texts))
            return distinct_terms(trimmed, self.top_terms)
        words = Counter(
            w for t in texts for w in _WORD.findall(t) if len(w) > 1 and not w.isdigit()
        )
        common = [w for w, _ in words.most_common()]
        expanded = (next((w for w in common if gram.strip() in w), "") for gram in ranked)
        return distinct_terms(expanded, self.top_terms, stop)

    # ------------------------------------------------------------------ weights

    def transform(self, texts: Iterable[Any]) -> np.ndarray:
        """Theme weights (comments x themes), each comment on its own (step 5)."""
        # Each distinct comment once, in sorted order: the same text gets the same weights.
        inverse, keys = pd.factorize(pd.Series(normalise_text(texts), dtype=object), sort=True)
        if len(keys) == 0:  # no comment at all (scikit-learn refuses an empty batch)
            return np.zeros((0, self.n_themes_))
        cache_key = self._cache_key(keys)
        with _one_blas_thread():  # also one caller at a time for the cache
            weights = _TRANSFORMS.get(cache_key)
            if weights is None:
                weights = _weights(self._vectors(list(keys)), self.components_)
                weights.flags.writeable = False
                while len(_TRANSFORMS) >= 4:  # the oldest out (dicts keep insertion order)
                    _TRANSFORMS.pop(next(iter(_TRANSFORMS)))
                _TRANSFORMS[cache_key] = weights
        return weights[inverse]

    def _vectors(self, keys: list[str]):
        """The TF-IDF rows of ``keys``. A row depends on its own text only (counts, idf, unit
        length), so the rows of the comments the model was fitted on are reused, not computed
        again (the same values: tested against a fresh transform)."""
        fitted = getattr(self, "_fitted_rows", None)
        if fitted is None:
            return self.vectorizer_.transform(keys)
        position, X = fitted
        rows = np.fromiter((position.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        missing = np.flatnonzero(rows < 0)
        if len(missing) == len(keys):
            return self.vectorizer_.transform(keys)
        if len(missing):
            rows[missing] = X.shape[0] + np.arange(len(missing))
            X = sparse.vstack([X, self.vectorizer_.transform([keys[i] for i in missing])])
        return X.tocsr()[rows]

    def _cache_key(self, keys: Any) -> tuple[str, str]:
        """(the fitted themes, the distinct comments): the weights depend on nothing else."""
        vectorizer = self.vectorizer_
        themes = hashlib.sha256(self.components_.tobytes())
        themes.update(np.asarray(vectorizer.idf_, dtype=np.float64).tobytes())
        themes.update("\x1f".join(map(str, self.terms_)).encode())
        themes.update(repr((vectorizer.analyzer, vectorizer.ngram_range)).encode())
        themes.update(repr(vectorizer.stop_words).encode())
        texts = hashlib.sha256("\x1f".join(keys).encode())
        return themes.hexdigest(), texts.hexdigest()

    def assign(self, texts: Iterable[Any]) -> pd.DataFrame:
        """One row per comment: ``theme`` (0 = the largest, -1 = none) and ``weight`` (the
        theme's share of the comment's weights)."""
        theme, share = _assign(self.transform(texts))
        return pd.DataFrame({"theme": theme.astype(int), "weight": share})

    # ------------------------------------------------------------------ storage

    def to_dict(self) -> dict[str, Any]:
        """What ``transform`` and the labels need, as plain JSON values (no pickle): the
        vectorizer's settings, vocabulary (in column order) and idf, the components H and the
        theme labels. ``from_dict`` rebuilds a model whose weights equal this one's exactly
        (floats round-trip through JSON)."""
        vectorizer = self.vectorizer_
        return {
            "format": "customer_retention.ThemeModel/1",
            "analyzer": self.analyzer_,
            "ngram_range": list(vectorizer.ngram_range),
            "stop_words": vectorizer.stop_words,
            "terms": [str(t) for t in self.terms_],
            "idf": vectorizer.idf_.tolist(),
            "components": self.components_.tolist(),
            "theme_terms": self.theme_terms_,
            "n_comments": self.n_comments_,
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> ThemeModel:
        """The fitted model ``to_dict`` describes (for ``transform`` / ``assign``)."""
        if stored.get("format") != "customer_retention.ThemeModel/1":
            raise ValueError(f"not a stored theme model (format {stored.get('format')!r})")
        model = cls(len(stored["theme_terms"]), stop_words=stored["stop_words"])
        terms = list(stored["terms"])
        vectorizer = TfidfVectorizer(
            analyzer=stored["analyzer"],
            ngram_range=tuple(stored["ngram_range"]),
            stop_words=stored["stop_words"] if stored["analyzer"] == "word" else None,
            vocabulary={term: j for j, term in enumerate(terms)},
            sublinear_tf=True,
            lowercase=False,
            dtype=np.float64,
        )
        vectorizer.idf_ = np.asarray(stored["idf"], dtype=np.float64)
        model.analyzer_, model.vectorizer_ = stored["analyzer"], vectorizer
        model.terms_ = np.asarray(terms, dtype=object)
        model.components_ = np.asarray(stored["components"], dtype=np.float64)
        model.n_themes_ = len(model.components_)
        model.theme_terms_ = [list(t) for t in stored["theme_terms"]]
        model.n_comments_ = int(stored.get("n_comments", 0))
        model.selection_, model.reconstruction_err_ = None, None
        return model

    def representatives(
        self, texts: Sequence[Any], assigned: pd.DataFrame, count: int = 3
    ) -> list[list[str]]:
        """Per theme, ``count`` distinct comments assigned to it: the largest weight share
        first, then the most frequent wording (a typo is rarer than the word it misspells),
        then the shorter."""
        keys = normalise_text(texts)
        frequency = pd.Series(keys).map(Counter(keys))
        frame = assigned.reset_index(drop=True).assign(
            text=[str(t) for t in texts],
            key=keys,
            frequency=frequency.to_numpy(),
            length=[len(str(t)) for t in texts],
        )
        out = []
        for theme in range(self.n_themes_):
            rows = frame[frame["theme"] == theme].sort_values(
                ["weight", "frequency", "length"], ascending=[False, False, True], kind="stable"
            )
            out.append(rows.drop_duplicates("key")["text"].head(count).tolist())
        return out


_BLAS_LIMIT = threading.RLock()
"""threadpoolctl's limit is the process's: two threads limiting and restoring it at once could
leave BLAS on one thread for good (nodes run on two threads: ``customer_retention.runner``)."""


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread, one caller at a time."""
    with _BLAS_LIMIT, threadpool_limits(1):
        yield


_TRANSFORMS: dict[tuple[str, str], np.ndarray] = {}
"""The last four ``ThemeModel.transform`` results: a run weights the same comments with the
same stored themes up to three times (the latest_theme table, scoring, drift monitoring)."""


def _weights(X, components: np.ndarray) -> np.ndarray:
    """Per row x, argmin_{w >= 0} ||x - w H||^2. With G = H H' = L L' (Cholesky),
    ||x - w H||^2 = ||L' w - L^-1 H x||^2 + const: a k x k non-negative least-squares
    problem per row, independent of the other rows."""
    gram = components @ components.T
    gram += 1e-10 * np.trace(gram) / len(gram) * np.eye(len(gram))
    chol = np.linalg.cholesky(gram)
    projected = np.asarray(X @ components.T)  # rows: H x
    right = np.linalg.solve(chol, projected.T).T  # rows: L^-1 H x
    weights = np.zeros_like(projected)
    for i in np.flatnonzero(projected.any(axis=1)):
        weights[i] = nnls(chol.T, right[i])[0]
    return weights


def _assign(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(theme = the largest weight, -1 without any; its share of the row's total)."""
    total = weights.sum(axis=1)
    theme = np.where(total > 0, weights.argmax(axis=1), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, weights.max(axis=1) / total, 0.0)
    return theme, share


def agreement(found: Sequence[Any], planted: Sequence[Any]) -> dict[str, Any]:
    """How the themes found agree with known (planted) ones: the adjusted Rand index (Hubert
    & Arabie 1985; 1 = the same partition, about 0 = chance) and, per planted theme, the
    found theme holding most of its comments and that share."""
    found, planted = pd.Series(list(found)), pd.Series(list(planted))
    table = pd.crosstab(planted, found)
    return {
        "adjusted_rand_index": float(adjusted_rand_score(planted, found)),
        "comments": len(found),
        "planted": [
            {
                "planted_theme": str(name),
                "comments": int(row.sum()),
                "found_theme": row.idxmax(),
                "share_in_found_theme": float(row.max() / row.sum()),
            }
            for name, row in table.iterrows()
        ],
    }
