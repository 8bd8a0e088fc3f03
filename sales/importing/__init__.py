"""CSV import: mapping files, row-by-row checks, and all-or-nothing bulk inserts of any store entity."""

from sales.importing.core import (
    MAPPINGS_DIR,
    MAVEN_FILES,
    STAGES_FILE,
    ImportFailed,
    ImportReport,
    RowProblem,
    adopt_source_stages,
    detect_delimiter,
    file_sha256,
    import_csv,
    import_maven,
    source_stages,
)
from sales.importing.fields import ENTITIES, ENTITY_FIELDS, field_names
from sales.importing.mapping import (
    ImportMapping,
    MappingError,
    detect_mapping,
    load_mapping,
    mapping_from_dict,
    parse_map_options,
)

__all__ = [
    "ENTITIES",
    "ENTITY_FIELDS",
    "MAPPINGS_DIR",
    "MAVEN_FILES",
    "STAGES_FILE",
    "ImportFailed",
    "ImportMapping",
    "ImportReport",
    "MappingError",
    "RowProblem",
    "adopt_source_stages",
    "detect_delimiter",
    "detect_mapping",
    "field_names",
    "file_sha256",
    "import_csv",
    "import_maven",
    "load_mapping",
    "mapping_from_dict",
    "parse_map_options",
    "source_stages",
]
