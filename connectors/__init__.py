"""Connectors to outside systems: CRMs (HubSpot CRM v3, Pipedrive REST: clients, incremental pulls, write-back) and
the IMAP mailbox replies are read from."""
