"""Which words of a request the parse did not use, and what to do about them: ask, or say they were left out.

A confident answer to a smaller question is worse than a question back. The pipeline parse consumes words it
understands (metrics, statuses, periods, groupings, the workspace's own names); a word left over is asked about
when it looks like a filter ("the Northeast office", a capitalised name) and named in the answer otherwise.
"""

from __future__ import annotations

import re

from agent.offline import names as nm
from agent.offline.normalize import VOCABULARY
from agent.offline.slots import GROUPINGS
from agent.offline.vocab import DIMENSION_NOUNS, KIND_NOUNS, choices, shared_first_names
from sales.vocabulary import Vocabulary

GRAMMAR = frozenset(
    """
    $ a about above account accounts across across-the-board active added after again against agent agents
    agents' ago all also am among amongst amount amounts an and any approximately apr april are around as at aug august
    average avg band be been before being below best best-selling between big bigger biggest bn booked bookings
    both bottom break breakdown bring bringing brings broken brought but by came can change changed changes client clients close closed
    closing company compare compared comparing conversion convert converted could count created curious current
    currently customer customers cycle date dates days deal deals dec december did do does doing dollars done
    down due during each earn earned earns eight end entered enterprise entire eur every everybody everyone exactly
    expect expected far feb february fewer fewest fraction figure figures first five flight for four friday from funnel fy gbp
    generate generated get give go going gone got greater greatest grew group grouped grow growing grown growth h1 h2 had half has have having hey hi
    higher highest how how's i i'm if in include includes including industries industry into is it it's its jan
    january jul july jun june just k know large larger largest last latest leader leaders leading least less let let's like
    line lines list listing live long look looking lose losing loss losses lost lower lowest m made make makes
    manager managers many mar march market me mean median mid mid-market million midmarket midsize monday money month
    monthly months more most moved much my need new next nine not nov november now number numbers oct october of
    off office offices offices' often ok okay on once one ones only open opened or order ordered other our out
    over overall owned owner owners past people per per-rep percent percentage perform performance performing person
    pipeline please pls poorest portion product proportion products progressed put q1 q2 q3 q4 quarter quarterly quarters question
    quick quickly range rank ranked ranking rate rates ratio ratios reached reason reasons region regional regions rep reps
    reps' rest result results revenue right right-now roughly running sales salespeople salesperson same saturday say
    scheduled second sector sectors see sell seller sellers selling sep sept september series set seven share
    should show since single sitting six size sizes slated small smaller smallest smb so so-far sold some sorted spent split
    splits stage stages stats status still strongest sum sunday take takes taking team team's teams teams' tell
    ten than that that's the their them then there there's these they they're third this those three through
    thru thursday till time to today tomorrow tonight took top top-selling total totals tuesday two typical
    under until up us usd value values versus vertical verticals vs want wanted was we we're we've weakest
    wednesday week weeks were what what's when where where's which while who who's whole whom whose why will win
    winning wins with within won wondering worst worst-selling worth would year years yesterday yet you your ytd
    """.split()  # noqa: SIM905 - a word list reads better as text
)
"""Words the pipeline parse reads (or that carry no filter); anything else left over is reported."""

_TOKEN = re.compile(r"[A-Za-z][\w'&.-]*\w|[A-Za-z]")


def leftovers(text: str, consumed: list[tuple[int, int]], extra: set[str] | None = None) -> list[tuple[str, int]]:
    """The words of ``text`` outside the ``consumed`` spans that no parser reads: (word, position)."""
    known = GRAMMAR | VOCABULARY | nm.STOP_WORDS | set(GROUPINGS) | {w.lower() for w in extra or set()}
    found = []
    for match in _TOKEN.finditer(text):
        if any(start <= match.start() < end for start, end in consumed):
            continue
        word = match.group(0).strip("'.-&")
        low = word.lower().removesuffix("'s")
        if not low or low in known or low.rstrip("s") in known or any(c.isdigit() for c in word):
            continue
        found.append((word, match.start()))
    return found


def next_noun(text: str, position: int, word: str) -> str | None:
    """The filter noun right after (or right before) ``word``: "Northeast office", "office Northeast"."""
    after = text[position + len(word) :].lower()
    before = text[:position].lower()
    for noun in sorted(DIMENSION_NOUNS, key=len, reverse=True):
        # "the Northeast office", "the zeta line"; after the noun only a name ("office Northeast", not "product brings")
        if re.match(rf"(?:'s)?\s+{re.escape(noun)}\b", after) or (
            word[:1].isupper() and re.search(rf"\b{re.escape(noun)}\s+$", before)
        ):
            return DIMENSION_NOUNS[noun]
    return None


def question_for(text: str, word: str, position: int, vocabulary: Vocabulary) -> str | None:
    """A clarifying question about a leftover word, or None when it is only to be named as left out."""
    shared = shared_first_names(vocabulary).get(word.lower())
    if shared:
        return f"Which {word} do you mean: {', '.join(shared)}?"
    kind = next_noun(text, position, word)
    if kind is not None:
        known = choices(vocabulary, kind)
        where = f" The {KIND_NOUNS[kind]} here are: {known}." if known else ""
        return (
            f'I don\'t know a {kind if kind != "region" else "region or office"} called "{word}" in this '
            f'workspace.{where} Which one did you mean (or say "all" to leave it out)?'
        )
    starts_sentence = position == 0 or text[:position].rstrip().endswith((".", "?", "!", ":"))
    if word[:1].isupper() and not starts_sentence and not word.isupper():
        return (
            f'I don\'t recognise "{word}" here: it is not a rep, team, office, product, account or industry of '
            'this workspace. Who or what did you mean (or say "all" to leave it out)?'
        )
    return None


__all__ = ["GRAMMAR", "leftovers", "next_noun", "question_for"]
