"""Posts with Japanese, English and mixed text for the search benchmark, in SQL.

Words come from the project's own source documents (bench/search_words_ja.txt:
the katakana and kanji words of /work/shared/seeds, most frequent first;
bench/search_words_en.txt: their English words). Each word slot picks rank
k = floor(V ** random()), a Zipf(1) draw, so a few words are in most posts and
the tail in one or two percent: the mix a search index meets in practice.
One post in three is Japanese, one English, one Japanese with English terms.
Japanese words are joined by particles and sentence endings, as prose is.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
JA_WORDS = [w for w in (HERE / "search_words_ja.txt").read_text(encoding="utf-8").split() if w]
EN_WORDS = [w for w in (HERE / "search_words_en.txt").read_text(encoding="utf-8").split() if w]

VOCABULARY = """
CREATE TEMP TABLE bench_words AS
SELECT CAST(:ja AS text[]) AS ja, CAST(:en AS text[]) AS en,
       ARRAY['は','の','を','に','が','で','と','も','から','まで'] AS particles,
       ARRAY['です。','します。','できます。','しました。','になります。','を確認します。'] AS endings,
       ARRAY['the','a','of','to','and','in','is','for','with','on','that','this'] AS function_words
"""

# w(k): the k-th word slot of post g; z = a Zipf(1) rank in 1..V.
POSTS = """
INSERT INTO posts (post_id, user_id, title, content, excerpt, slug, status, tags, published_at, created_at)
SELECT md5('sp' || g)::uuid,
       md5('u' || (1 + (g::bigint * 7919) % CAST(:users AS int)))::uuid,
       title, content, left(content, 120), 'search-post-' || g,
       CASE WHEN r < 0.9 THEN 'published' ELSE 'draft' END,
       ARRAY[CASE g % 3 WHEN 1 THEN 'english' ELSE 'japanese' END],
       CASE WHEN r < 0.9 THEN now() - (g::float / CAST(:n AS int)) * interval '1000 days' END,
       now() - (g::float / CAST(:n AS int)) * interval '1000 days' - interval '1 hour'
FROM (
    SELECT g, r,
           CASE g % 3
             WHEN 1 THEN (SELECT initcap(string_agg(en[floor(exp(random() * ln(cardinality(en))))::int + 0 * i], ' '))
                          FROM generate_series(1, 4 + (g % 3)) i)
             ELSE (SELECT string_agg(ja[floor(exp(random() * ln(cardinality(ja))))::int + 0 * i], 'の')
                   FROM generate_series(1, 2 + (g % 2)) i)
                  || CASE WHEN g % 3 = 2 THEN ' ' || en[floor(exp(random() * ln(cardinality(en))))::int] ELSE '' END
           END AS title,
           CASE g % 3
             WHEN 1 THEN (SELECT string_agg(en[floor(exp(random() * ln(cardinality(en))))::int + 0 * i]
                                            || ' ' || function_words[1 + (i * 7 + g) % 12], ' ')
                          FROM generate_series(1, CAST(:slots AS int)) i)
             ELSE (SELECT string_agg(CASE WHEN g % 3 = 2 AND i % 5 = 0
                                          THEN en[floor(exp(random() * ln(cardinality(en))))::int + 0 * i]
                                          ELSE ja[floor(exp(random() * ln(cardinality(ja))))::int + 0 * i] END
                                     || CASE WHEN i % 6 = 0 THEN endings[1 + (i + g) % 6]
                                             ELSE particles[1 + (i * 3 + g) % 10] END, '')
                   FROM generate_series(1, CAST(:slots AS int)) i)
           END AS content
    FROM (SELECT g, random() AS r FROM generate_series(CAST(:first AS int), CAST(:last AS int)) g) s, bench_words
) t
"""


def generate_posts(conn: Any, n: int, users: int, slots: int = 40, log: Any = print, batch: int = 100_000) -> float:
    """Insert n posts (ids md5('sp' || g)); returns seconds. The caller owns the indexes."""
    conn.run("SELECT setseed(0.15)")
    conn.run("DROP TABLE IF EXISTS bench_words")
    conn.run(VOCABULARY, ja=JA_WORDS, en=EN_WORDS)
    t = time.perf_counter()
    for first in range(1, n + 1, batch):
        last = min(n, first + batch - 1)
        conn.run(POSTS, n=n, users=users, slots=slots, first=first, last=last)
        log(f"  search posts {last}/{n}: {time.perf_counter() - t:.1f} s")
    return time.perf_counter() - t
