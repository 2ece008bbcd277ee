#!/bin/sh
# `make translations`: extract message keys from the code into locales/messages.pot, update the
# fr/wo/en catalogues from it and compile .mo files (for tooling; the bot reads the .po files).
# POSIX sh on purpose: the Makefile runs it with `sh`.
set -eu
cd "$(dirname "$0")/.."

if [ -x .venv/bin/pybabel ]; then
  PYBABEL=.venv/bin/pybabel PYTHON=.venv/bin/python
else
  PYBABEL=pybabel PYTHON=python3
fi
# babel.cfg names the extractor ovop.language.i18n:extract_message_keys, imported from the repository root.
PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH

# The source paths that exist (a fresh checkout may not have them all yet).
set --
for path in ovop app.py; do
  if [ -e "$path" ]; then set -- "$@" "$path"; fi
done

# Only our key functions are keywords (msgids are keys, not French text); keep in step with
# EXTRACTION_KEYWORDS in ovop/language/i18n.py (tests/test_i18n.py checks).
"$PYBABEL" extract -F babel.cfg --no-default-keywords \
  -k t -k tn:1,2 -k N_ -k mark -k mark_plural:1,2 -k say -k say_n:1,2 \
  --add-comments=TRANSLATORS: --strip-comments --sort-output \
  --project=ovop-bot --version=1 --copyright-holder="OVOP Senegal" \
  -o locales/messages.pot "$@"

for lang in fr wo en; do
  po="locales/$lang/LC_MESSAGES/messages.po"
  if [ -f "$po" ]; then
    # No fuzzy matching: keys like menu.main and menu.stock look alike but mean different things.
    "$PYBABEL" update -i locales/messages.pot -d locales -D messages -l "$lang" --no-fuzzy-matching
  else
    "$PYBABEL" init -i locales/messages.pot -d locales -D messages -l "$lang"
    if [ "$lang" = wo ]; then
      # Babel guesses two plural forms for Wolof; Wolof nouns do not change with the number.
      "$PYTHON" - "$po" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
text = re.sub(r'"Plural-Forms: [^"]*"', r'"Plural-Forms: nplurals=1; plural=0;\\n"', text, count=1)
open(path, "w", encoding="utf-8").write(text)
PY
    fi
  fi
done

"$PYBABEL" compile -d locales -D messages --statistics
