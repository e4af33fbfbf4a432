// The patient page: unlock a V3 keystore in the browser (ethers v6, served by this API), show the
// consent and the research purposes it covers, and revoke it (all of it, or one purpose) with an
// EIP-712 signature the API relays. No build step; every request
// goes to this page's own origin (the server's Content-Security-Policy enforces it).
"use strict";

(function () {
  const PROBLEM = "urn:consentfl:problem:";
  const $ = (id) => document.getElementById(id);
  let wallet = null;
  let study = "";

  class PageError extends Error {}

  const CHAIN_DOWN =
    "The blockchain cannot be reached right now. Nothing was changed: please try again later.";

  function plainProblem(status, problem) {
    const type = (problem && problem.type) || "";
    if (status === 503 || type === PROBLEM + "chain-unavailable") return CHAIN_DOWN;
    if (type === PROBLEM + "relayer-unavailable")
      return "Revocations cannot be sent from this server right now. Nothing was changed: please try again later.";
    if (type === PROBLEM + "unknown-study") return "There is no study with this name or id.";
    if (type === PROBLEM + "patient-not-enrolled")
      return "This key has no consent in this study. Check the study on your enrolment letter.";
    if (type === PROBLEM + "replayed-signature" || type === PROBLEM + "nonce-mismatch")
      return "Your consent changed while you were on this page. Reload the page and try again.";
    if (type === PROBLEM + "consent-not-active")
      return "Your consent is already revoked: there is no purpose left to withdraw.";
    if (type === PROBLEM + "purposes-not-granted")
      return "Your consent does not include this purpose any more. Reload the page.";
    if (type === PROBLEM + "deadline-expired")
      return "The signature took too long to reach the chain. Nothing was changed: please try again.";
    return (problem && problem.detail) || `The server answered with an error (${status}).`;
  }

  async function api(path, options) {
    let response;
    try {
      response = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, options));
    } catch (err) {
      throw new PageError(CHAIN_DOWN);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) throw new PageError(plainProblem(response.status, body));
    return { status: response.status, body };
  }

  function base() {
    return `/v1/studies/${encodeURIComponent(study)}/patients/${wallet.address}`;
  }

  function showError(message) {
    $("error").textContent = message;
    $("error").hidden = false;
  }

  function showNotice(message) {
    $("notice").textContent = message;
    $("notice").hidden = false;
  }

  function clearMessages() {
    $("error").hidden = true;
    $("notice").hidden = true;
  }

  function when(unix) {
    return new Date(unix * 1000).toLocaleString();
  }

  function cell(row, text, mono) {
    const td = document.createElement("td");
    td.textContent = text;
    if (mono) td.className = "mono";
    row.appendChild(td);
  }

  function fillTable(id, rows, empty) {
    const body = $(id);
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      cell(tr, empty);
      tr.firstChild.colSpan = 4;
      body.appendChild(tr);
      return;
    }
    for (const values of rows) {
      const tr = document.createElement("tr");
      values.forEach((v, i) => cell(tr, String(v), i === 3));
      body.appendChild(tr);
    }
  }

  const PURPOSE_NAMES = {
    GRU: "General research use",
    HMB: "Health, medical and biomedical research",
    NMDS: "No general methods research (a limit, not a purpose)",
  };

  function purposeName(code) {
    if (PURPOSE_NAMES[code]) return `${PURPOSE_NAMES[code]} (${code})`;
    if (code.startsWith("DS-")) return `Research on ${code.slice(3).toLowerCase()} only (${code})`;
    return code;
  }

  function stateOf(consent) {
    if (consent.consented) return "consented";
    if (consent.revoked_block) return "revoked";
    return consent.covers_study ? "expired" : "uncovered";
  }

  function renderPurposes(consent, state) {
    const list = $("purposes");
    list.replaceChildren();
    const withdrawable = consent.purposes.filter((c) => c !== "NMDS");
    for (const code of consent.purposes) {
      const li = document.createElement("li");
      li.dataset.purpose = code;
      const name = document.createElement("span");
      name.textContent = purposeName(code);
      li.appendChild(name);
      if (code !== "NMDS" && state !== "revoked" && withdrawable.length > 1) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = "Withdraw this purpose";
        button.setAttribute("aria-label", `Withdraw ${purposeName(code)}`);
        button.addEventListener("click", () => onWithdraw(code, button));
        li.appendChild(button);
      }
      list.appendChild(li);
    }
  }

  // issue 16: what the revocation did to the models trained on the patient's data
  function unlearningText(unlearning) {
    if (!unlearning) return "Not revoked";
    let text = unlearning.message;
    const proven = unlearning.proofs.filter((p) => p.verified).length;
    if (unlearning.state === "unlearned" && unlearning.proofs.length) {
      text += `; proof: ${proven} of ${unlearning.proofs.length} exclusion proofs verify against the chain`;
    }
    if (unlearning.state === "unlearned" && unlearning.seconds_to_clean_head !== null) {
      text += `; it took ${unlearning.seconds_to_clean_head} s (${unlearning.rounds_to_clean_head} round(s))`;
    }
    return text;
  }

  function render(consent, rounds) {
    const state = stateOf(consent);
    const status = $("status");
    status.textContent = {
      consented: "You consent: your data may be used in this study's training.",
      revoked: "Revoked: your data is no longer used in this study's training.",
      expired: "Outside its validity period: your consent does not count now.",
      uncovered: "Not used: your consent does not cover this study's purpose.",
    }[state];
    status.className = "state-" + state;
    status.dataset.state = state;
    $("patient-address").textContent = consent.patient;
    $("hospital").textContent = consent.hospital;
    const grant = consent.history.filter((e) => e.kind === "granted").pop();
    $("granted").textContent = grant
      ? `${when(grant.timestamp)} (block ${grant.block_number})`
      : `block ${consent.granted_block}`;
    $("validity").textContent = consent.expires_at ? when(consent.expires_at) : "No end date: until you revoke";
    $("valid-from").textContent = consent.valid_from ? when(consent.valid_from) : "From when it was given";
    $("study-purpose").textContent = consent.study_purpose ? purposeName(consent.study_purpose) : "Not declared";
    renderPurposes(consent, state);
    const revoked = consent.history.filter((e) => e.kind === "revoked").pop();
    $("revoked").textContent = revoked ? `${when(revoked.timestamp)} (block ${revoked.block_number})` : "No";
    $("unlearning").textContent = unlearningText(consent.unlearning);
    fillTable(
      "history",
      consent.history.map((e) => [historyLabel(e), when(e.timestamp), e.block_number, e.tx_hash]),
      "No events."
    );
    fillTable(
      "rounds",
      rounds.rounds.map((r) => [r.round, r.state, r.consent_block, r.num_samples]),
      "No training round has used your hospital's data while you consented."
    );
    const revoke = $("revoke");
    revoke.disabled = state === "revoked";
    revoke.textContent = state === "revoked" ? "Consent revoked" : "Revoke my consent";
    $("fhir-link").href = base() + "/consent/fhir";
    $("fhir-link").setAttribute("download", `consent-${consent.patient}.fhir.json`);
    $("consent").hidden = false;
  }

  function historyLabel(e) {
    if (e.kind === "granted") return `Consent given: ${(e.purposes || []).join(", ")}`;
    if (e.kind === "purposes_revoked") return `Withdrawn: ${(e.revoked_purposes || []).join(", ")}`;
    return "Consent revoked";
  }

  async function onWithdraw(code, button) {
    clearMessages();
    button.disabled = true;
    button.textContent = "Withdrawing…";
    try {
      const query = "?purposes=" + encodeURIComponent(code);
      const typed = (await api(base() + "/purpose-revocation/typed-data" + query)).body;
      const signature = await wallet.signTypedData(typed.domain, typed.types, typed.message);
      const result = await api(base() + "/purpose-revocation", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ purposes: [code], signature, deadline: typed.message.deadline }),
      });
      await refresh();
      showNotice(`${purposeName(code)} is withdrawn (block ${result.body.block_number}). ` +
        `Still covered: ${result.body.remaining.join(", ") || "nothing"}.`);
      document.body.dataset.withdrawn = code;
    } catch (err) {
      showError(err instanceof PageError ? err.message : "Unexpected error: " + err);
      try { await refresh(); } catch (ignored) { button.disabled = false; }
    }
  }

  async function refresh() {
    const consent = await api(base() + "/consent");
    const rounds = await api(base() + "/rounds");
    render(consent.body, rounds.body);
    return consent.body;
  }

  async function unlock(file, password) {
    let text;
    try {
      text = await file.text();
      JSON.parse(text);
    } catch (err) {
      throw new PageError("This file is not a key file (a keystore .json). Choose the file your hospital gave you.");
    }
    $("unlock-row").hidden = false;
    try {
      return await ethers.Wallet.fromEncryptedJson(text, password, (p) => {
        $("unlock-progress").value = p;
      });
    } catch (err) {
      const message = String((err && (err.shortMessage || err.message)) || err);
      if (/password/i.test(message)) throw new PageError("Wrong password: the key file did not open. Check the password and try again.");
      throw new PageError("This key file cannot be opened: " + message);
    }
  }

  async function onOpen(event) {
    event.preventDefault();
    clearMessages();
    study = $("study").value.trim();
    const file = $("keyfile").files[0];
    if (!study) return showError("Enter the study name or id.");
    if (!file) return showError("Choose your key file.");
    $("open").disabled = true;
    try {
      wallet = await unlock(file, $("password").value);
      $("password").value = "";
      const consent = await refresh();
      if (stateOf(consent) === "revoked") {
        showNotice("Your consent is already revoked: there is nothing more to do.");
      } else if (!$("revoke").disabled) {
        $("revoke").focus();
      }
    } catch (err) {
      showError(err instanceof PageError ? err.message : "Unexpected error: " + err);
    } finally {
      $("open").disabled = false;
      $("unlock-row").hidden = true;
    }
  }

  function offerReceipt(receipt) {
    if (!receipt) return;
    const blob = new Blob([JSON.stringify(receipt, null, 2)], { type: "application/json" });
    const link = $("receipt-link");
    link.href = URL.createObjectURL(blob);
    link.setAttribute("download", `receipt-${receipt.event.type}-${receipt.event.blockNumber}.json`);
    link.hidden = false;
  }

  async function onRevoke() {
    clearMessages();
    const button = $("revoke");
    button.disabled = true;
    button.textContent = "Revoking…";
    try {
      const typed = (await api(base() + "/revocation/typed-data")).body;
      const signature = await wallet.signTypedData(typed.domain, typed.types, typed.message);
      const result = await api(base() + "/revocation", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ signature, deadline: typed.message.deadline, nonce: typed.message.nonce }),
      });
      offerReceipt(result.body.receipt);
      const consent = await refresh();
      const block = result.body.block_number;
      showNotice(result.body.already_revoked
        ? `Your consent was already revoked (block ${block}). Nothing changed.`
        : `Your consent is revoked (block ${block}). Keep your receipt.`);
      document.body.dataset.revoked = String(!consent.consented);
    } catch (err) {
      showError(err instanceof PageError ? err.message : "Unexpected error: " + err);
      try { await refresh(); } catch (ignored) { button.disabled = false; button.textContent = "Revoke my consent"; }
    }
  }

  function start() {
    const params = new URLSearchParams(window.location.search);
    if (params.get("study")) $("study").value = params.get("study");
    $("open-form").addEventListener("submit", onOpen);
    $("revoke").addEventListener("click", onRevoke);
    if (typeof ethers === "undefined") {
      showError("The signing library did not load; this page cannot open key files.");
      return;
    }
    $("open").disabled = false;
    performance.mark("interactive");
    document.body.dataset.ready = "true";
  }

  start();
})();
