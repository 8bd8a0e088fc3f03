"""Connectors to outside CRMs (HubSpot CRM v3, Pipedrive REST): clients, incremental pulls, write-back."""
