"""A text search configuration for languages PostgreSQL has no stemmer for: ``simple`` after ``unaccent``.

Estonian, Latvian, Swahili, undetected languages ("und"), ... were indexed with ``simple``, so
"tootasu" (typed without diacritics) did not find "töötasu". ``govai_simple_unaccent`` is a copy
of ``simple`` whose word tokens with non-ASCII letters (``word``, ``hword``, ``hword_part``) pass
through the ``unaccent`` dictionary first; ASCII words are unchanged. Snowball configurations are
left alone: their stemmers rely on the diacritics.

``unaccent`` is contrib (it ships with every PostgreSQL server package, Debian's included) and a
trusted extension, so a database owner may create it without being superuser.

Documents already stored keep their configuration ("simple" included) and stay searchable; re-index
them with ``manage.py govai_reindex_text`` (docs/operate.md).
"""

from django.db import migrations

CONFIG = "govai_simple_unaccent"

FORWARD = f"""
CREATE EXTENSION IF NOT EXISTS unaccent;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_ts_config WHERE cfgname = '{CONFIG}') THEN
        CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.simple);
        ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR word, hword, hword_part WITH unaccent, simple;
    END IF;
END
$$;
"""

# Back to plain "simple" for what was indexed with the configuration, then drop it. The extension
# stays: other objects in the database may use it, and it costs nothing.
REVERSE = f"""
UPDATE govai_plugin_chunk AS c SET ts_config = 'simple',
    search_vector = setweight(to_tsvector('simple'::regconfig, COALESCE(d.title, '')), 'A')
                 || setweight(to_tsvector('simple'::regconfig, COALESCE(c.heading_path, '')), 'A')
                 || setweight(to_tsvector('simple'::regconfig, COALESCE(c.text, '')), 'B')
    FROM govai_plugin_document AS d WHERE c.document_id = d.id AND c.ts_config = '{CONFIG}';
UPDATE govai_plugin_document SET ts_config = 'simple' WHERE ts_config = '{CONFIG}';
DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG};
"""


class Migration(migrations.Migration):

    dependencies = [
        ("govai_plugin", "0010_chunk_embedding_model"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
