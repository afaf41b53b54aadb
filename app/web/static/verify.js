/* The verify page, enhanced: choose or drop a file and see the result without a reload.
 *
 * The page works without this script (a plain form POST). With it, the same POST is sent by
 * fetch with "X-Originmark-Fragment: 1"; the server answers the result section alone, rendered
 * and escaped by its templates, and it replaces the old one. The answer is parsed with
 * DOMParser (scripts in such a document never run) and the page's Content-Security-Policy
 * forbids inline script anyway. Text this script writes itself goes through textContent.
 */
(function () {
  "use strict";

  var form = document.getElementById("verify-form");
  if (!form || !window.fetch || !window.FormData || !window.DOMParser) {
    return; // the plain form still works
  }
  var input = document.getElementById("file");
  var zone = document.getElementById("drop-zone");
  var status = document.getElementById("status");
  var preview = document.getElementById("preview");
  var previewImage = document.getElementById("preview-image");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes") || "0", 10);
  var previewUrl = null;
  var busy = false;

  function say(text) {
    status.textContent = text;
  }

  function showPreview(file) {
    if (previewUrl) {
      URL.revokeObjectURL(previewUrl);
      previewUrl = null;
    }
    if (!/^image\//.test(file.type)) {
      preview.hidden = true;
      return;
    }
    previewUrl = URL.createObjectURL(file);
    previewImage.src = previewUrl;
    previewImage.alt = "Preview of the chosen file, " + file.name;
    preview.hidden = false;
  }

  function replaceResult(html) {
    var parsed = new DOMParser().parseFromString(html, "text/html");
    var fresh = parsed.getElementById("result");
    var current = document.getElementById("result");
    if (!fresh || !current) {
      return false;
    }
    current.replaceWith(document.adoptNode(fresh));
    fresh.focus();
    return true;
  }

  function send(file) {
    if (busy) {
      return;
    }
    if (maxBytes && file.size > maxBytes) {
      say("This file is too large to check here (" + file.size + " bytes; the limit is " + maxBytes + ").");
      return;
    }
    busy = true;
    form.setAttribute("aria-busy", "true");
    say("Checking " + file.name + "…");
    showPreview(file);
    var body = new FormData();
    body.append("file", file, file.name);
    fetch(form.action, {
      method: "POST",
      body: body,
      headers: { "X-Originmark-Fragment": "1" },
      credentials: "same-origin"
    })
      .then(function (response) {
        return response.text().then(function (text) {
          if (!replaceResult(text)) {
            say("The server answered with status " + response.status + ". Try again.");
            return;
          }
          say(response.ok ? "Checked " + file.name + "." : "The file could not be checked.");
        });
      })
      .catch(function () {
        say("The file could not be sent: check the connection and try again.");
      })
      .then(function () {
        busy = false;
        form.removeAttribute("aria-busy");
      });
  }

  input.addEventListener("change", function () {
    if (input.files && input.files.length) {
      send(input.files[0]);
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.files && input.files.length) {
      send(input.files[0]);
    } else {
      say("Choose a file first.");
    }
  });

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("is-dragging");
    });
  });
  ["dragleave", "dragend", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () {
      zone.classList.remove("is-dragging");
    });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) {
      return;
    }
    try {
      input.files = files; // keeps the form's own state in step (and a plain submit working)
    } catch (ignored) {
      /* older browsers: the file is still sent below */
    }
    send(files[0]);
  });
  // A file dropped next to the zone would make the browser navigate away to it.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });
})();
