// The chat page: posts the conversation to /chat (streamed), renders answers with clickable [n]
// citation markers, and shows a cited span highlighted in its document. No framework, no build.
// With "Generated" ticked it asks for a generated answer: each sentence appears once the server
// has verified it against its quote, and the answer is labelled generated or extracted. With a day
// in "As of" the question is asked as of that day (later documents left out), and the answer says so.
"use strict";

const HISTORY = 6;            // messages sent with a question: enough to resolve follow-ups
const KEY_STORE = "rag-api-key";
const STYLE_STORE = "rag-answer-style";
const FALLBACK_TEXT = {
  disabled: "generation is off on this server",
  refused: "the evidence was too weak; the model was not asked",
  timeout: "the model did not answer in time",
  unreachable: "the model server could not be reached",
  malformed: "the model's reply was unusable",
  "nothing verified": "no generated sentence passed verification",
};

const $ = (id) => document.getElementById(id);
const log = $("log");
const form = $("ask-form");
const input = $("question");
const sendButton = $("send");
const viewer = $("viewer");
const generate = $("generate");
const asOf = $("as-of");  // a day (YYYY-MM-DD) or "": never kept, so no stale day filters quietly

let messages = [];            // the conversation: {role: "user"|"assistant", content}
let busy = false;

// ------------------------------------------------------------------------------ small helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function authHeaders() {
  const key = localStorage.getItem(KEY_STORE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function docUrl(docId, start, end) {
  const path = docId.split("/").map(encodeURIComponent).join("/");
  return `documents/${path}?start=${start}&end=${end}&context=1000000`;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = `the server answered ${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch (_) { /* not JSON: keep the status line */ }
  return new ApiError(response.status, code, message);
}

function askForKey() {
  const dialog = $("key-dialog");
  return new Promise((resolve) => {
    $("api-key").value = localStorage.getItem(KEY_STORE) || "";
    dialog.addEventListener("close", () => {
      const key = $("api-key").value.trim();
      if (dialog.returnValue === "ok" && key) {
        localStorage.setItem(KEY_STORE, key);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.showModal();
  });
}

// fetch with the API key; on 401 ask for a key once and retry
async function apiFetch(url, options = {}, retried = false) {
  const response = await fetch(url, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
  if (response.status === 401 && !retried && await askForKey()) {
    return apiFetch(url, options, true);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

// ------------------------------------------------------------------------------ status line

async function loadStatus() {
  const status = $("status");
  try {
    const response = await fetch("health");
    const health = await response.json();
    if (health.index_loaded) {
      status.textContent = `${health.documents} documents · ${health.model}`;
      status.className = "status ok";
    } else {
      status.textContent = `no index: ${health.detail || "build one with 'rag index'"}`;
      status.className = "status bad";
    }
  } catch (_) {
    status.textContent = "server unreachable";
    status.className = "status bad";
  }
}

// ------------------------------------------------------------------------------ asking

async function* sseEvents(response) {
  // Parses text/event-stream: blocks separated by a blank line, "event:" and "data:" fields.
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      let event = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
    if (done) return;
  }
}

async function ask(question, day) {
  const history = [...messages, { role: "user", content: question }].slice(-HISTORY);
  while (history.length && history[0].role !== "user") history.shift();
  const body = { messages: history, stream: true, answer: generate.checked ? "generated" : "extractive" };
  if (day) body.as_of = day;
  const response = await apiFetch("chat", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  return response;
}

async function submit(question) {
  if (busy || !question) return;
  busy = true;
  sendButton.disabled = true;
  $("intro").hidden = true;
  addTurn("user", question);
  const bubble = addTurn("assistant pending", "");
  if (generate.checked) bubble.classList.add("generating");
  const streamed = el("p", "answer-text streaming");
  bubble.append(streamed);
  const day = asOf.value;
  try {
    const response = await ask(question, day);
    let answer = null;
    let verifiedSentences = 0;
    if ((response.headers.get("content-type") || "").includes("text/event-stream")) {
      for await (const { event, data } of sseEvents(response)) {
        if (event === "sentence") {
          // a generated sentence the server verified: shown at once, with its citation
          streamed.append(document.createTextNode(`${verifiedSentences ? " " : ""}${data.text} `),
            citeButton(data.citation, `[${data.n}]`, "cite"));
          verifiedSentences += 1;
        } else if (event === "token" && !verifiedSentences) streamed.textContent += data.text;
        else if (event === "citations") answer = data;
      }
    } else {
      answer = await response.json();
    }
    if (!answer) throw new ApiError(0, "incomplete", "the answer stream ended early; ask again");
    renderAnswer(bubble, answer);
    if (day) bubble.append(el("p", "dated", `asked as of ${day}: documents dated later were left out`));
    messages.push({ role: "user", content: question }, { role: "assistant", content: answer.answer });
  } catch (error) {
    renderError(bubble, error);
  } finally {
    bubble.classList.remove("pending", "generating");
    busy = false;
    sendButton.disabled = false;
    bubble.scrollIntoView({ block: "nearest" });
  }
}

function addTurn(kind, text) {
  const item = el("li", `turn ${kind}`);
  if (text) item.append(el("p", "user-text", text));
  log.append(item);
  item.scrollIntoView({ block: "nearest" });
  return item;
}

// ------------------------------------------------------------------------------ rendering

function renderAnswer(bubble, answer) {
  bubble.textContent = "";
  const label = styleLabel(answer);
  if (label) bubble.append(label);
  if (answer.abstained) {
    bubble.classList.add("refusal");
    bubble.append(el("p", "refusal-label", "No answer in the documents"));
    bubble.append(el("p", "answer-text", answer.answer));
    if (answer.related.length) {
      bubble.append(el("h3", "closest-title", "Closest passages (not answers)"));
      const list = el("ul", "closest");
      for (const passage of answer.related) {
        const item = el("li");
        const button = el("button", "passage-link plain", passage.title);
        button.type = "button";
        button.addEventListener("click", () => openSource(passage, button));
        item.append(button, el("q", "passage-quote", oneLine(passage.quote)));
        list.append(item);
      }
      bubble.append(list);
    }
  } else {
    if (answer.short_answer) bubble.append(shortAnswer(answer.short_answer));
    bubble.append(answerText(answer));
    if (answer.citations.length) {
      const sources = el("ol", "sources");
      for (const c of answer.citations) {
        const item = el("li");
        item.append(citeButton(c, `[${c.n}]`, "cite cite-source"));
        const where = [c.source, c.page ? `page ${c.page}` : null].filter(Boolean).join(", ");
        item.append(el("span", "source-title", ` ${c.title}`), el("span", "source-where", ` — ${where}`));
        if (c.also_in.length) item.append(el("span", "also-in", ` (same text in ${c.also_in.join(", ")})`));
        sources.append(item);
      }
      bubble.append(sources);
    }
  }
  if (answer.rewritten_question && answer.rewritten_question !== answer.question) {
    bubble.append(el("p", "rewritten", `searched as: ${answer.rewritten_question}`));
  }
}

// "generated · 1 sentence dropped", or "extracted" (with why, when a generated one was asked for)
function styleLabel(answer) {
  if (!answer.style) return null;  // an older server
  const label = el("p", `answer-style ${answer.style}`);
  const dropped = answer.dropped ? ` · ${answer.dropped} unverified sentence${answer.dropped === 1 ? "" : "s"} dropped` : "";
  if (answer.style === "generated" && answer.abstained) {
    label.textContent = `generated · the model found no answer in the passages${dropped}`;
  } else if (answer.style === "generated") {
    label.textContent = `generated · every sentence checked against its quote${dropped}`;
  } else {
    const why = answer.fallback ? ` · ${FALLBACK_TEXT[answer.fallback] || answer.fallback}` : "";
    label.textContent = `extracted from the documents${why}${dropped}`;
  }
  return label;
}

// A generated answer is "<sentence> [n] <sentence> [m] ...": each sentence is the model's, each
// marker a citation from the list (one may serve several sentences). Shown plain if it does not parse.
function generatedText(answer) {
  const plain = el("p", "answer-text", answer.answer);
  const byN = new Map(answer.citations.map((c) => [c.n, c]));
  const text = el("p", "answer-text");
  let at = 0;
  for (const match of answer.answer.matchAll(/\s*(.+?) \[(\d+)\](?= |$)/g)) {
    const citation = byN.get(Number(match[2]));
    if (match.index !== at || !citation) return plain;
    text.append(document.createTextNode(`${at ? " " : ""}${match[1]} `), citeButton(citation, `[${match[2]}]`, "cite"));
    at = match.index + match[0].length;
  }
  return at && at === answer.answer.length ? text : plain;
}

// The answer is "<quote 1> [1] <quote 2> [2] ..." built by the server from `citations`. Markers
// are placed from that list, never by searching the text for "[n]": a quote may itself contain
// "[1]". Each expected "<quote> [n]" piece must be where the list says; if the text is not the
// list's (another server version), it is shown as plain text and the sources list below links.
function answerText(answer) {
  if (answer.style === "generated") return generatedText(answer);
  const plain = el("p", "answer-text", answer.answer);
  const pieces = [];
  let at = 0;
  for (const [i, c] of answer.citations.entries()) {
    const lead = `${i ? " " : ""}${displayText(c.quote)} `;
    const marker = `[${c.n}]`;
    if (!answer.answer.startsWith(lead + marker, at)) return plain;
    pieces.push([lead, c]);
    at += lead.length + marker.length;
  }
  if (!pieces.length || at !== answer.answer.length) return plain;
  const text = el("p", "answer-text");
  for (const [lead, c] of pieces) text.append(...boldShort(lead, c, answer.short_answer), citeButton(c, `[${c.n}]`, "cite"));
  return text;
}

// The reader's short answer: shown first, in bold, above the cited sentences.
function shortAnswer(short) {
  const line = el("p", "short-answer");
  line.append(el("strong", null, displayText(short.text)));
  return line;
}

// The sentence of citation `c` as text nodes, the short answer in it (when it is this citation's) bold.
function boldShort(lead, c, short) {
  const words = short && short.n === c.n ? displayText(short.text) : "";
  const at = words ? lead.indexOf(words) : -1;
  if (at < 0) return [document.createTextNode(lead)];
  return [document.createTextNode(lead.slice(0, at)), el("strong", "short-in-quote", words),
    document.createTextNode(lead.slice(at + words.length))];
}

// rag.query.citations.display_text: markup and bullets removed, whitespace collapsed
function displayText(quote) {
  return quote.replace(/\*\*|<\/?u>/g, "").replace(/(^|\s)[•·]\s+/g, "$1").split(/\s+/).filter(Boolean).join(" ");
}

function citeButton(citation, label, className) {
  const button = el("button", className, label);
  button.type = "button";
  button.dataset.n = citation.n;
  button.dataset.docId = citation.doc_id;
  button.dataset.start = citation.start;
  button.dataset.end = citation.end;
  button.title = `${citation.title} (${citation.source})`;
  button.addEventListener("click", () => openSource(citation, button));
  return button;
}

function renderError(bubble, error) {
  bubble.textContent = "";
  bubble.classList.add("error");
  const message = error instanceof ApiError ? error.message : `the server could not be reached (${error.message})`;
  bubble.append(el("p", "error-text", `Error: ${message}`));
}

function oneLine(text) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 240 ? `${flat.slice(0, 239)}…` : flat;
}

// ------------------------------------------------------------------------------ source viewer

async function openSource(span, button) {
  document.querySelectorAll(".active").forEach((node) => node.classList.remove("active"));
  if (button) button.classList.add("active");
  viewer.hidden = false;
  document.body.classList.add("viewing");
  $("doc-title").textContent = span.title;
  $("doc-meta").textContent = "loading…";
  const textBox = $("doc-text");
  textBox.textContent = "";
  try {
    const response = await apiFetch(docUrl(span.doc_id, span.start, span.end));
    const doc = await response.json();
    $("doc-title").textContent = doc.title;
    const meta = [doc.author && `by ${doc.author}`, doc.date, doc.outlet, doc.source,
      doc.span.page ? `page ${doc.span.page}` : null].filter(Boolean);
    $("doc-meta").textContent = meta.join(" · ");
    const mark = el("mark", "cited", doc.span.text);
    textBox.append(document.createTextNode(doc.before), mark, document.createTextNode(doc.after));
    mark.scrollIntoView({ block: "center" });
  } catch (error) {
    $("doc-meta").textContent = "";
    textBox.append(el("p", "error-text", `Error: ${error.message}`));
  }
}

function closeViewer() {
  viewer.hidden = true;
  document.body.classList.remove("viewing");
  document.querySelectorAll(".active").forEach((node) => node.classList.remove("active"));
}

// ------------------------------------------------------------------------------ wiring

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question || busy) return;
  input.value = "";
  submit(question);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

$("close-viewer").addEventListener("click", closeViewer);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !viewer.hidden) closeViewer();
});

generate.checked = localStorage.getItem(STYLE_STORE) === "generated";
generate.addEventListener("change", () => {
  localStorage.setItem(STYLE_STORE, generate.checked ? "generated" : "extractive");
});

$("new-chat").addEventListener("click", () => {
  messages = [];
  log.textContent = "";
  $("intro").hidden = false;
  closeViewer();
  input.focus();
});

// A browser restoring the page from its cache (back, forward, reload) may refill the form
window.addEventListener("pageshow", () => { asOf.value = ""; });

loadStatus();
