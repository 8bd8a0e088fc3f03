"""``salesgraph contacts forget``: data-subject deletion across the store and the vector index, in one command."""

from __future__ import annotations

from typing import Annotated

import typer

from bots.common import AsOption

contacts = typer.Typer(help="Contacts: privacy requests.", no_args_is_help=True)


@contacts.command("forget")
def forget_cmd(
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
    as_: AsOption = None,
) -> None:
    """Erase a person (data-subject request): their interactions leave the store AND the vector index.

    Deletes every email, call and meeting note logged against their contact records or leads with their
    address, deletes the contact, anonymises those leads (deals keep their history), redacts messages sent
    to them and approval requests about them, and erases their personal values from the audit log (the chain
    still verifies). Admins only; the audit log records counts and a hash of the address, not the address.
    """
    from bots.common import console, fail, resolve_actor, session
    from memory.config import MemorySettings
    from memory.embeddings import EmbeddingUnavailable
    from memory.index import IndexUnavailable, InteractionIndex
    from memory.privacy import forget_contact

    if not yes:
        fail(f"this permanently erases {email} from the store and the index; add --yes to confirm")
    try:
        index = InteractionIndex.from_settings(MemorySettings.from_app())
    except (EmbeddingUnavailable, IndexUnavailable) as exc:
        fail(f"cannot open the vector index, so nothing was erased: {exc}")
    with session() as s:
        actor = resolve_actor(s, as_)
        try:
            report = forget_contact(s, actor, email, index)
        except IndexUnavailable as exc:
            fail(f"the vector index failed, so nothing was erased: {exc}")
    out = console()
    out.print(
        f"Forgotten: {report.interactions_deleted} interactions deleted (and {report.index_chunks_deleted} index "
        f"entries), {report.contacts_deleted} contacts deleted, {report.leads_anonymised} leads anonymised, "
        f"{report.messages_redacted} messages redacted, {report.approvals_redacted} approval requests redacted "
        f"({report.approvals_withdrawn} withdrawn), {report.audit_values_erased} personal values erased from the "
        f"audit log. Receipt: audit #{report.receipt}."
    )
    if report.older_audit_events:
        out.print(
            f"Note: {report.older_audit_events} older audit events (written before personal values were sealed) "
            "still mention this person; they cannot be changed without breaking the audit chain, so they were left "
            "as they are. See README, 'Forgetting a contact'.",
            highlight=False,
        )
