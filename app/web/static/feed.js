/* The feed page: recent items and their labels, from the public label API only.
 *
 * GET /v1/labels/recent gives the newest media ids, their labels and whether each has a signed
 * thumbnail (`has_thumbnail`, read in the same query); only those are requested, GET
 * /v1/thumbnails/{id} (kept for tenants that turned feed thumbnails on). The others show a
 * placeholder at once (never made, a format without one, a tenant with them off), and so does a
 * thumbnail whose request fails (replaced since the list was read). The CR pin
 * in the picture's corner is a button that opens the same details as the label beside it (a
 * <details> disclosure), the way LinkedIn shows Content Credentials; opening them reads
 * GET /v1/verdicts/{id} once for the signing time and tool. Every string from the API
 * (labels, issuers, generator names: all written by whoever made the files) is set with
 * textContent or setAttribute, never parsed as HTML; class names come from a fixed list.
 */
(function () {
  "use strict";

  var feed = document.getElementById("feed");
  if (!feed || !window.fetch) {
    return;
  }
  var list = document.getElementById("feed-items");
  var status = document.getElementById("feed-status");
  var refresh = document.getElementById("feed-refresh");
  var pinTemplate = document.getElementById("cr-pin-template");
  var recentUrl = feed.getAttribute("data-recent-url");
  var verdictUrl = feed.getAttribute("data-verdict-url");
  var verdictQuery = feed.getAttribute("data-verdict-query") || "";
  var thumbnailUrl = feed.getAttribute("data-thumbnail-url");
  var cardCount = 0;
  var isPublic = feed.getAttribute("data-public") === "true";

  var KINDS = ["ai_generated", "ai_edited", "captured", "credentials", "invalid", "none"];
  var EVIDENCE = {
    digital_source_type: "a declared IPTC digital source type",
    legacy_actions: "a source type in the older actions assertion",
    ingredient_source_type: "a source type declared on an ingredient",
    generative_ai_assertion: "Adobe's 2023 generative-AI assertion",
    ai_description: "an \u201cAI Generated Image\u201d description"
  };

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function fact(dl, term, value, before) {
    var row = element("div");
    row.appendChild(element("dt", null, term));
    row.appendChild(element("dd", null, value));
    dl.insertBefore(row, before || null);
    return row;
  }

  function when(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  }

  function kindOf(label) {
    return KINDS.indexOf(label && label.kind) >= 0 ? label.kind : "none";
  }

  function pin() {
    return document.importNode(pinTemplate.content, true);
  }

  function addVerdictFacts(dl, mediaId, before) {
    var loading = fact(dl, "Signed", "Loading\u2026", before);
    fetch(verdictUrl + encodeURIComponent(mediaId) + verdictQuery, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (body) {
        var verdict = body.verdict || {};
        loading.lastChild.textContent = verdict.signed_at ? when(verdict.signed_at) : "Not recorded (no time-stamp)";
        fact(dl, "App or device used", verdict.claim_generator || "Not named", before);
        var agents = (verdict.actions || [])
          .map(function (action) { return action.software_agent; })
          .filter(function (agent) { return agent; });
        if (agents.length) {
          fact(dl, "Tool", agents.slice(0, 3).join(", "), before);
        }
      })
      .catch(function () {
        loading.lastChild.textContent = "The details could not be read.";
      });
  }

  function placeholder(mediaId) {
    var tile = element("div", "tile");
    tile.setAttribute("role", "img");
    tile.setAttribute("aria-label", "Placeholder for item " + mediaId + " (no thumbnail is kept for it)");
    tile.appendChild(element("span", "tile__id", mediaId));
    return tile;
  }

  function picture(mediaId) {
    // The signed thumbnail the list says exists; the placeholder if its request fails all the same
    // (the media id re-pointed at other content since the list was read).
    var img = element("img", "media__img");
    img.alt = "Picture of item " + mediaId;
    img.decoding = "async";
    img.loading = "lazy";
    img.addEventListener("error", function () {
      if (img.parentNode) {
        img.parentNode.replaceChild(placeholder(mediaId), img);
      }
    });
    img.src = thumbnailUrl + encodeURIComponent(mediaId) + verdictQuery;
    return img;
  }

  function card(item) {
    var label = item.label || {};
    var kind = kindOf(label);
    var li = element("li", "card");
    li.setAttribute("data-media-id", item.media_id);

    var recovered = label.recovered === true; // found by content match: the file itself carries none
    var credentials = kind !== "none" && !recovered; // what the CR pin stands for
    var media = element("div", "media");
    media.appendChild(item.has_thumbnail === true ? picture(item.media_id) : placeholder(item.media_id));
    li.appendChild(media);

    var details = element("details", "card__details");
    cardCount += 1;
    details.id = "card-details-" + cardCount;
    var summary = element("summary", "card__label label--" + kind);
    if (credentials) {
      summary.appendChild(pin());
    }
    summary.appendChild(element("span", "card__text", label.text || "No label"));
    details.appendChild(summary);

    var dl = element("dl", "facts facts--compact");
    if (kind === "invalid") {
      fact(dl, "Credentials", "Present but could not be verified: nothing they claim is shown.");
    } else if (kind !== "none") {
      if (recovered) {
        fact(dl, "Credentials", "Not in the file: found by content match with a file this server signed or kept.");
      }
      fact(dl, "Issued by", label.issuer || "Not named");
      fact(dl, "Signer", label.trusted ? "Trusted (on a trust list)" : "Unrecognized (on no trust list)");
      if (EVIDENCE[label.evidence]) {
        fact(dl, "Label based on", EVIDENCE[label.evidence]);
      }
    }
    var updated = fact(dl, "Updated", when(item.updated_at));
    fact(dl, "Media id", item.media_id);
    details.appendChild(dl);

    var button = null;
    if (credentials) {
      // The pin in the picture's corner: a button that opens and closes the details below.
      button = element("button", "media__pin label--" + kind);
      button.type = "button";
      button.setAttribute("aria-controls", details.id);
      button.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-label", "Content Credentials: " + (label.text || "details") + ". Show the details");
      button.appendChild(pin());
      button.addEventListener("click", function () {
        details.open = !details.open;
        showState(); // now: the toggle event comes a task later
      });
      media.appendChild(button);
    }

    function showState() {
      if (button) {
        button.setAttribute("aria-expanded", details.open ? "true" : "false");
        button.setAttribute(
          "aria-label",
          "Content Credentials: " + (label.text || "details") + (details.open ? ". Hide the details" : ". Show the details")
        );
      }
    }

    var loaded = false;
    details.addEventListener("toggle", function () {
      showState(); // opened or closed by the label (summary) too
      // A recovered item's stored verdict is the file's own (no credentials): nothing more to read.
      if (details.open && !loaded && kind !== "invalid" && kind !== "none" && !recovered) {
        loaded = true;
        addVerdictFacts(dl, item.media_id, updated);
      }
    });
    li.appendChild(details);
    return li;
  }

  function load() {
    if (!isPublic) {
      return; // the page's notice (#feed-not-public) says why the feed is empty: said once, there
    }
    status.textContent = "Loading\u2026";
    fetch(recentUrl, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          throw new Error("Label reads need an API key on this server (ORIGINMARK_PUBLIC_LABEL_READS is off).");
        }
        if (!response.ok) {
          throw new Error("The label API answered with status " + response.status + ".");
        }
        return response.json();
      })
      .then(function (body) {
        var items = Array.isArray(body.items) ? body.items : [];
        list.replaceChildren.apply(list, items.map(card));
        status.textContent = items.length
          ? items.length + (items.length === 1 ? " item" : " items") + ", newest first."
          : "Nothing has been signed or verified with a media id yet.";
      })
      .catch(function (error) {
        status.textContent = error && error.message ? error.message : "The feed could not be loaded.";
      });
  }

  refresh.hidden = !isPublic; // nothing to refresh until label reads are public
  refresh.addEventListener("click", load);
  load();
})();
