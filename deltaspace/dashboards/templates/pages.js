// The pages read the JSON API: figures load as plotly JSON (a front's points open their trial),
// the launch form checks and posts YAML, and a study page polls its status while it is queued or
// runs, reloading when anything changed (a worker picked it up, a trial finished).

// The API call of every page. A service started with DELTASPACE_API_TOKEN answers 401 until the
// request carries "Authorization: Bearer TOKEN": the page asks once and keeps the token for the
// tab. State-changing calls send JSON, which the service's cross-origin check expects.
async function api(url, options = {}) {
  const send = () => {
    const token = sessionStorage.getItem("deltaspace-token");
    const auth = token ? { authorization: "Bearer " + token } : {};
    return fetch(url, { ...options, headers: { ...(options.headers || {}), ...auth } });
  };
  let response = await send();
  if (response.status === 401) {
    const token = prompt("This service needs its API token (DELTASPACE_API_TOKEN):");
    if (token) { sessionStorage.setItem("deltaspace-token", token.trim()); response = await send(); }
  }
  return response;
}

async function drawFigure(div, url) {
  const response = await api(url);
  if (!response.ok) { div.textContent = "could not load this figure (" + response.status + ")"; return; }
  const figure = await response.json();
  await Plotly.react(div, figure.data, figure.layout, { responsive: true });
  div.dataset.loaded = "1";
  if (div.dataset.click === "trial" && !div.dataset.clickBound) {
    // a point carries [study, trial number]: clicking it opens the trial's page
    div.on("plotly_click", (event) => {
      const key = event.points[0] && event.points[0].customdata;
      if (Array.isArray(key)) location.href = "/studies/" + encodeURIComponent(key[0]) + "/trials/" + key[1];
    });
    div.dataset.clickBound = "1";
  }
}

async function loadFigures() {
  for (const div of document.querySelectorAll("[data-figure-url]")) await drawFigure(div, div.dataset.figureUrl);
  document.body.dataset.figuresLoaded = "1";
}

// A figure's options (colour groups, a band of parameters) go into its URL's query.
function optionSelects() {
  document.querySelectorAll("select[data-figure][data-option]").forEach((select) => {
    const div = document.getElementById(select.dataset.figure);
    select.addEventListener("change", async () => {
      const url = new URL(div.dataset.figureUrl, location.href);
      if (select.value) url.searchParams.set(select.dataset.option, select.value);
      else url.searchParams.delete(select.dataset.option);
      div.dataset.figureUrl = url.pathname + url.search;
      delete div.dataset.loaded;
      await drawFigure(div, div.dataset.figureUrl);
    });
  });
}

function watchStatus() {
  const status = document.getElementById("study-status");
  if (!status || !["queued", "running"].includes(status.dataset.status)) return;
  setTimeout(async () => {
    const response = await api(status.dataset.statusUrl);
    if (response.ok) {
      const study = await response.json();
      const key = study.status + ":" + Object.values(study.counts).join(",");
      if (key !== status.dataset.key) { location.reload(); return; }
    }
    watchStatus();
  }, 5000);
}

function showProblems(list, problems) {
  list.replaceChildren(...problems.map((p) => {
    const item = document.createElement("li");
    if (p.path) {
      const path = document.createElement("code");
      path.textContent = p.path;
      item.append(path, ": ");
    }
    item.append(p.msg);
    return item;
  }));
}

function problemsOf(body) {
  return Array.isArray(body.detail) ? body.detail : [{ path: "", msg: String(body.detail) }];
}

// The study is checked as you type (POST /api/studies/validate, a moment after the last key):
// a valid one says what would run, an invalid one lists each problem with its field path.
function launchForm() {
  const form = document.getElementById("launch-form");
  if (!form) return;
  const text = document.getElementById("study-yaml");
  const list = document.getElementById("launch-errors");
  const state = document.getElementById("validation");
  let timer = null, asked = 0;
  const show = (kind, message, problems) => {
    state.dataset.state = kind;
    state.textContent = message;
    showProblems(list, problems);
  };
  const validate = async () => {
    if (!text.value.trim()) { show("empty", "Type or load a study to check it.", []); return; }
    const mine = ++asked;
    state.dataset.state = "checking";
    const response = await api("/api/studies/validate", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ yaml: text.value }),
    });
    if (mine !== asked) return;  // a newer check is under way
    const body = await response.json();
    if (response.ok) {
      const trials = body.n_trials === null ? "until its timeout" : body.n_trials + " trials";
      show("ok", "Valid: study " + body.name + ", " + trials + ", objectives " + body.objectives.join(", ") + ".", []);
    } else {
      const problems = problemsOf(body);
      show("problems", problems.length + " problem" + (problems.length === 1 ? "" : "s") + ":", problems);
    }
  };
  const soon = () => { clearTimeout(timer); timer = setTimeout(validate, 400); };
  text.addEventListener("input", soon);
  document.getElementById("study-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) { text.value = await file.text(); validate(); }
  });
  const example = document.getElementById("example");
  let examples = null;
  example.addEventListener("change", async () => {
    if (!example.value) return;
    if (examples === null) {
      const response = await api("/api/examples");
      examples = response.ok ? await response.json() : [];
    }
    const chosen = examples.find((e) => e.name === example.value);
    if (chosen) { text.value = chosen.yaml; validate(); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await api("/api/studies", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ yaml: text.value }),
    });
    const body = await response.json();
    if (response.ok) { location.href = "/studies/" + encodeURIComponent(body.name); return; }
    show("problems", "Not queued:", problemsOf(body));
  });
}

function cancelButton() {
  const button = document.getElementById("cancel");
  if (!button) return;
  button.addEventListener("click", async () => {
    await api(button.dataset.url, { method: "POST", headers: { "content-type": "application/json" } });
    location.reload();
  });
}

// A plain link cannot carry the token: with one stored, API links (exports) download through api().
function apiLinks() {
  document.querySelectorAll("a[href^='/api/']").forEach((link) => {
    link.addEventListener("click", async (event) => {
      if (!sessionStorage.getItem("deltaspace-token")) return;
      event.preventDefault();
      const response = await api(link.href);
      if (!response.ok) { alert("export failed (" + response.status + ")"); return; }
      const disposition = response.headers.get("content-disposition") || "";
      const save = document.createElement("a");
      save.href = URL.createObjectURL(await response.blob());
      save.download = (disposition.match(/filename="([^"]+)"/) || [null, "export.zip"])[1];
      save.click();
      setTimeout(() => URL.revokeObjectURL(save.href), 60000);
    });
  });
}

loadFigures();
optionSelects();
watchStatus();
launchForm();
cancelButton();
apiLinks();
