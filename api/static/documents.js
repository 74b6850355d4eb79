// The documents panel: lists the documents, uploads files (chooser or drag and drop) to
// POST /documents and deletes with DELETE /documents/{doc_id}; each answer comes once the new
// index is live, so the list is refreshed right after. Self-contained beside app.js.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const panel = $("docs-panel");
  const list = $("doc-list");
  const status = $("docs-status");
  const drop = $("drop");

  const headers = () => {
    const key = localStorage.getItem("rag-api-key");   // the key app.js asked for, if any
    return key ? { Authorization: `Bearer ${key}` } : {};
  };

  async function call(method, path, body) {
    const response = await fetch(path, { method, body, headers: headers() });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error && data.error.message) || `${response.status}`);
    return data;
  }

  function say(text, failed = false) {
    status.textContent = text;
    status.classList.toggle("error", failed);
  }

  async function refresh() {
    const { documents } = await call("GET", "documents");
    list.replaceChildren(...documents.map((doc) => {
      const item = document.createElement("li");
      item.dataset.docId = doc.doc_id;
      const name = document.createElement("span");
      name.className = "doc-name";
      name.textContent = doc.title;
      name.title = doc.source;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "plain delete";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete ${doc.doc_id}`);
      remove.addEventListener("click", () => removeDoc(doc.doc_id));
      item.append(name, remove);
      return item;
    }));
  }

  async function upload(files) {
    if (!files.length) return;
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    say(`Adding ${files.length} file(s)…`);
    try {
      const reply = await call("POST", "documents", form);
      const refused = reply.refused.map((r) => `${r.filename}: ${r.reason}`).join("; ");
      say(`Added ${reply.added.map((a) => a.doc_id).join(", ")}` + (refused ? `. Not added: ${refused}` : ""),
          Boolean(refused));
      await refresh();
    } catch (error) {
      say(`Not added: ${error.message}`, true);
    }
  }

  async function removeDoc(docId) {
    say(`Deleting ${docId}…`);
    try {
      const path = docId.split("/").map(encodeURIComponent).join("/");
      await call("DELETE", `documents/${path}`);
      say(`Deleted ${docId}`);
      await refresh();
    } catch (error) {
      say(`Not deleted: ${error.message}`, true);
    }
  }

  $("docs-toggle").addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    document.body.classList.toggle("docs-open", !panel.hidden);
    if (!panel.hidden) refresh().catch((error) => say(error.message, true));
  });
  $("close-docs").addEventListener("click", () => { panel.hidden = true; document.body.classList.remove("docs-open"); });
  $("doc-files").addEventListener("change", (event) => { upload([...event.target.files]); event.target.value = ""; });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    upload([...event.dataTransfer.files]);
  });
})();
