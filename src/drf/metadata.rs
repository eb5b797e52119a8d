//! OPTIONS: DRF's `SimpleMetadata` for the users views.

use serde_json::{Value, json};

use crate::domain::{DNI_MAX_CHARS, NAME_MAX_CHARS};

/// The view's metadata; `action` (POST on the list, PUT on an existing user) adds the fields.
pub fn metadata(view_name: &str, action: Option<&str>) -> Value {
    let mut meta = json!({
        "name": view_name,
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
    });
    if let Some(action) = action {
        meta["actions"] = json!({ action: {
            "id": {"type": "integer", "required": false, "read_only": true, "label": "ID"},
            "dni": {"type": "string", "required": true, "read_only": false, "label": "Dni", "max_length": DNI_MAX_CHARS},
            "name": {"type": "string", "required": true, "read_only": false, "label": "Name", "max_length": NAME_MAX_CHARS},
        }});
    }
    meta
}
