"""Seniority levels read from job titles: c_level, vp, director, manager or individual (an individual contributor).

One function, used where a lead is created (so the level is stored and audited) and where the scoring features
are built (so leads imported without a level are described the same way at training and at scoring time). The
labels are those of the demo data and of the ``seniority`` lead attribute the importers keep.
"""

from __future__ import annotations

import re
from functools import lru_cache

SENIORITY_ATTRIBUTE = "seniority"
LEVELS = ("c_level", "vp", "director", "manager", "individual")

# "Sr." and "SVP" are spelled many ways; expand the abbreviations before matching whole words
_ABBREVIATIONS = (
    (re.compile(r"\bv\.\s?p\.?(?=\s|$|,)"), "vp"),
    (re.compile(r"\b(?:s|e|a)vp\b"), "vp"),
    (re.compile(r"\bvice[\s-]+president\b"), "vp"),
    (re.compile(r"\bsnr\b|\bsr\b\.?"), "senior"),
    (re.compile(r"\bdir\b\.?"), "director"),
    (re.compile(r"\bmgr\b\.?"), "manager"),
    (re.compile(r"\bexec\b\.?"), "executive"),
    (re.compile(r"\bco-?\s?founder\b"), "founder"),
)
_C_LEVEL = re.compile(
    r"\b(?:ceo|cfo|coo|cto|cmo|cro|cio|ciso|cdo|cpo|cco|cso|cao|chro|cxo)\b|"
    r"\bchief\b(?:\s+[a-z&/-]+){1,3}\s+(?:officer|executive)\b|\bchief executive\b|\bpresident\b|\bfounder\b|"
    r"^(?:co-?)?owner\b|\bmanaging (?:director|partner)\b"
)
_VP = re.compile(r"\bvp\b")
_DIRECTOR = re.compile(r"\bdirector\b|\bhead\b|\bgeneral manager\b|\bgm\b")
_MANAGER = re.compile(r"\bmanager\b|\bsupervisor\b|\bteam lead\b|\bteam leader\b")
_INDIVIDUAL = re.compile(
    r"\b(?:executive|analyst|engineer|specialist|representative|rep|sdr|bdr|associate|consultant|coordinator|"
    r"developer|designer|administrator|admin|architect|accountant|assistant|officer|buyer|recruiter|scientist|"
    r"agent|advisor|adviser|intern|planner|strategist|controller|clerk|technician|programmer|marketer|writer)\b"
)


@lru_cache(maxsize=4096)
def seniority_of(title: str | None) -> str | None:
    """The seniority level a job title names, or None when it names none ("Chief Llama Whisperer", "")."""
    if not title or not isinstance(title, str):
        return None
    text = " ".join(re.sub(r"[|,;:()]", " ", title.lower()).split())
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    # the most senior word wins ("VP and General Manager" is a VP; "Senior Director" a director)
    if _C_LEVEL.search(text):
        return "c_level"
    if _VP.search(text):
        return "vp"
    if _DIRECTOR.search(text):
        return "director"
    if _MANAGER.search(text):
        return "manager"
    if _INDIVIDUAL.search(text):
        return "individual"
    return None
