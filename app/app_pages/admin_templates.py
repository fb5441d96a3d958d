"""Templates: list, create / edit with declared variables, preview with sample values."""

import json

import pandas as pd
import streamlit as st

from ui import session
from ui.forms import FieldErrors, attempt, parse_json
from ui.paging import PAGE_SIZE, paged
from wework.enums import MessageType
from wework.services import templates
from wework.services.permissions import TEMPLATE_MANAGE

ctx = session.require(TEMPLATE_MANAGE)
st.title("Templates")
st.caption("Content is the message's JSON for its type; `{{name}}` marks a variable. "
           "Variables: one per line, `name` (required) or `name=default`.")

EXAMPLES = {
    "text": {"text": "Hello {{name}}, welcome to {{company}}!"},
    "image": {"url": "https://cdn.example.com/{{code}}.png"},
    "file": {"url": "https://cdn.example.com/{{code}}.pdf", "filename": "{{code}}.pdf"},
    "link": {"title": "{{title}}", "url": "https://example.com/p/{{code}}"},
    "miniprogram": {"appid": "wx123", "title": "{{title}}", "pagepath": "pages/index"},
    "at": {"mentions": ["all"], "text": "{{text}}"},
}


def parse_variables(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, _, default = line.partition("=")
        out.append({"name": name.strip(), "required": not default,
                    "default": default.strip() or None})
    return out


def variables_text(variables) -> str:
    return "\n".join(v["name"] + (f"={v['default']}" if v.get("default") else "")
                     for v in variables or [])


page = paged("templates", lambda c: templates.list_templates(ctx, active_only=False,
                                                             limit=PAGE_SIZE, cursor=c,
                                                             fresh=True))
listing = pd.DataFrame([
    {"name": t.template_name, "type": t.template_type, "category": t.category,
     "variables": ", ".join(v["name"] for v in t.variables or []), "uses": t.usage_count,
     "active": t.is_active, "id": t.id}
    for t in page.items
])
if listing.empty:
    st.info("No templates yet.")
else:
    st.dataframe(listing, hide_index=True)

tab_new, tab_edit = st.tabs(["Create template", "Edit / preview"])
with tab_new:
    mtype = st.selectbox("Message type", [m.value for m in MessageType], key="tpl_new_type")
    with st.form("template_create"):
        errors = FieldErrors()
        name = st.text_input("Template name", key="tpl_new_name")
        errors.slot("template_name")
        category = st.text_input("Category", key="tpl_new_category")
        content_text = st.text_area("Content (JSON)", json.dumps(EXAMPLES[mtype],
                                                                 ensure_ascii=False),
                                    key=f"tpl_new_content_{mtype}")
        errors.slot("template_content", "template_type")
        variables = st.text_area("Variables", "\n".join(
            sorted(templates.placeholders(EXAMPLES[mtype]))), key=f"tpl_new_vars_{mtype}")
        errors.slot("variables")
        if st.form_submit_button("Create template", type="primary"):
            attempt(lambda: templates.create_template(
                ctx, template_name=name.strip(), template_type=mtype,
                template_content=parse_json(content_text, "template_content"),
                variables=parse_variables(variables), category=category.strip() or None),
                errors, success=f"Template {name} created.")

with tab_edit:
    by_id = {t.id: t for t in page.items}
    if not by_id:
        st.info("No template on this page.")
    else:
        tid = st.selectbox("Template", list(by_id), key="tpl_pick",
                           format_func=lambda i: by_id[i].template_name)
        tpl = by_id[tid]
        with st.form("template_edit"):
            errors = FieldErrors()
            new_name = st.text_input("Template name", tpl.template_name,
                                     key=f"tpl_edit_name_{tid}")
            errors.slot("template_name")
            new_content = st.text_area("Content (JSON)", json.dumps(tpl.template_content,
                                                                    ensure_ascii=False),
                                       key=f"tpl_edit_content_{tid}")
            errors.slot("template_content", "template_type")
            new_vars = st.text_area("Variables", variables_text(tpl.variables),
                                    key=f"tpl_edit_vars_{tid}")
            errors.slot("variables")
            if st.form_submit_button("Save template"):
                attempt(lambda: templates.update_template(
                    ctx, tid, template_name=new_name.strip(),
                    template_content=parse_json(new_content, "template_content"),
                    variables=parse_variables(new_vars)),
                    errors, success="Template saved.")
        if tpl.is_active and st.button("Deactivate template", key=f"tpl_deactivate_{tid}"):
            attempt(lambda: templates.deactivate_template(ctx, tid),
                    success="Template deactivated.")

        st.subheader("Preview")
        with st.form("template_preview"):
            errors = FieldErrors()
            values = {}
            for var in tpl.variables or []:
                values[var["name"]] = st.text_input(
                    var["name"] + ("" if var.get("required") else " (optional)"),
                    value=(tpl.preview_data or {}).get(var["name"], var.get("default") or ""),
                    key=f"tpl_preview_{tid}_{var['name']}")
                errors.slot(f"variables.{var['name']}")
            errors.slot("template_content", "content")
            if st.form_submit_button("Preview"):
                sample = {k: v for k, v in values.items() if v != ""}
                # render_content is the service's pure renderer: it validates without
                # counting a use.
                rendered = attempt(lambda: templates.render_content(tpl, sample), errors,
                                   rerun=False)
                if rendered is not None:
                    st.json(rendered)
