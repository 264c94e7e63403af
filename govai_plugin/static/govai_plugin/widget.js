/* GovAI suggestions widget: shows each suggestion for a case with its cited sources and
   the AI-generated label, streams a draft while it is written, and records the
   caseworker's decision (accept, edit, reject). No dependencies; model output is only
   ever inserted as text, never as HTML. */
(function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function request(method, url, body) {
    var options = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken();
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(problem(data) || ("HTTP " + response.status));
        return data;
      });
    });
  }

  /* What went wrong, for the caseworker: the messages of the fields at fault, else the detail. */
  function problem(data) {
    var fields = data.fields || {};
    var messages = Object.keys(fields).map(function (name) { return [].concat(fields[name]).join(" "); });
    return messages.length ? messages.join(" ") : data.detail;
  }

  function renderText(container, text, suggestion, passage) {
    container.textContent = "";
    text.split(/(\[\d+\])/).forEach(function (part) {
      var marker = part.match(/^\[(\d+)\]$/);
      if (!marker) { container.appendChild(document.createTextNode(part)); return; }
      var number = parseInt(marker[1], 10);
      var source = (suggestion.sources || []).filter(function (s) { return s.number === number; })[0];
      var button = el("button", { "type": "button", "class": "govai-cite", "data-source": String(number),
                                  "aria-label": "Show source " + number }, part);
      button.addEventListener("click", function () {
        passage.hidden = false;
        passage.textContent = "";
        if (!source) { passage.textContent = "Source " + number + " is not available."; return; }
        var where = source.document_title + " (version " + source.document_version + ")" +
          (source.heading_path ? " › " + source.heading_path : "") + (source.page ? ", page " + source.page : "");
        passage.appendChild(el("strong", { "class": "govai-where" }, "[" + number + "] " + where));
        passage.appendChild(el("div", { "class": "govai-quote" }, source.text));
      });
      container.appendChild(button);
    });
  }

  function render(root, api, suggestion) {
    var card = el("article", { "class": "govai-suggestion", "data-id": suggestion.id, "data-status": suggestion.status });
    card.appendChild(el("span", { "class": "govai-label" }, suggestion.label));
    card.appendChild(el("span", { "class": "govai-status" }, " " + suggestion.status));
    if (suggestion.needs_review) card.appendChild(el("p", { "class": "govai-flag" }, suggestion.review_flag));
    var text = el("div", { "class": "govai-text" });
    var passage = el("aside", { "class": "govai-passage" });
    passage.hidden = true;
    card.appendChild(text);
    card.appendChild(passage);
    var shown = suggestion.final_text && suggestion.status === "edited" ? suggestion.final_text : suggestion.text;
    renderText(text, shown, suggestion, passage);
    var message = el("p", { "class": "govai-error", "role": "alert" });
    if (suggestion.status === "drafting") {
      stream(api, suggestion, text, card, root);
    } else if (suggestion.status === "draft") {
      card.appendChild(actions(api, suggestion, text, message, root));
    } else if (suggestion.reviewer) {
      card.appendChild(el("p", { "class": "govai-decided" },
        "Decided (" + suggestion.status + ") by " + suggestion.reviewer + (suggestion.reason ? ": " + suggestion.reason : "")));
    }
    card.appendChild(message);
    return card;
  }

  function stream(api, suggestion, text, card, root) {
    var source = new EventSource(api + "/" + suggestion.id + "/stream");
    var written = "";
    source.addEventListener("token", function (event) {
      written += JSON.parse(event.data).text;
      text.textContent = written;
    });
    source.addEventListener("done", function () { source.close(); setTimeout(function () { load(root); }, 300); });
    source.addEventListener("error", function () { source.close(); setTimeout(function () { load(root); }, 1000); });
  }

  function actions(api, suggestion, text, message, root) {
    var bar = el("div", { "class": "govai-actions" });
    var accept = el("button", { "type": "button", "class": "govai-accept" }, "Accept");
    var edit = el("button", { "type": "button", "class": "govai-edit-button" }, "Edit");
    var reject = el("button", { "type": "button", "class": "govai-reject" }, "Reject");
    var form = el("div", { "class": "govai-form" });
    [accept, edit, reject].forEach(function (b) { bar.appendChild(b); });
    bar.appendChild(form);

    function decide(body) {
      message.textContent = "";
      request("POST", api + "/" + suggestion.id + "/decision", body)
        .then(function () { load(root); })
        .catch(function (error) { message.textContent = error.message; });
    }
    accept.addEventListener("click", function () { decide({ action: "accept" }); });
    edit.addEventListener("click", function () {
      form.textContent = "";
      var area = el("textarea", { "class": "govai-edit", "aria-label": "Edited suggestion" });
      area.value = suggestion.text;
      var save = el("button", { "type": "button", "class": "govai-save" }, "Save edit");
      save.addEventListener("click", function () { decide({ action: "edit", text: area.value }); });
      form.appendChild(area);
      form.appendChild(save);
    });
    reject.addEventListener("click", function () {
      form.textContent = "";
      var area = el("textarea", { "class": "govai-reason", "aria-label": "Reason for rejecting" });
      var confirm = el("button", { "type": "button", "class": "govai-confirm-reject" }, "Reject with this reason");
      confirm.addEventListener("click", function () { decide({ action: "reject", reason: area.value }); });
      form.appendChild(area);
      form.appendChild(confirm);
    });
    return bar;
  }

  function load(root) {
    var api = root.getAttribute("data-api");
    var url = api + "?system=" + encodeURIComponent(root.getAttribute("data-system")) +
      "&case=" + encodeURIComponent(root.getAttribute("data-case"));
    return request("GET", url).then(function (list) {
      root.textContent = "";
      if (!list.length) root.appendChild(el("p", { "class": "govai-empty" }, "No suggestions for this case yet."));
      list.forEach(function (suggestion) { root.appendChild(render(root, api, suggestion)); });
      root.setAttribute("data-loaded", "true");
    }).catch(function (error) {
      root.textContent = "";
      root.appendChild(el("p", { "class": "govai-error" }, "Suggestions could not be loaded: " + error.message));
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".govai-suggestions"), load);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
