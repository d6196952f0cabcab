// The pages read the JSON API: figures load as plotly JSON, the launch form posts YAML,
// and a study page polls its status while it runs, reloading when anything changed.

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
}

async function loadFigures() {
  for (const div of document.querySelectorAll("[data-figure-url]")) await drawFigure(div, div.dataset.figureUrl);
  document.body.dataset.figuresLoaded = "1";
}

function recolorSelects() {
  document.querySelectorAll("select[data-recolor]").forEach((select) => {
    const div = document.getElementById(select.dataset.recolor);
    select.addEventListener("change", () => {
      const url = new URL(div.dataset.figureUrl, location.href);
      url.searchParams.set("color_by", select.value);
      drawFigure(div, url.toString());
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
    item.textContent = (p.path ? p.path + ": " : "") + p.msg;
    return item;
  }));
}

function launchForm() {
  const form = document.getElementById("launch-form");
  if (!form) return;
  const text = document.getElementById("study-yaml");
  document.getElementById("study-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) text.value = await file.text();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await api("/api/studies", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ yaml: text.value }),
    });
    const body = await response.json();
    if (response.ok) { location.href = "/studies/" + encodeURIComponent(body.name); return; }
    const problems = Array.isArray(body.detail) ? body.detail : [{ path: "", msg: String(body.detail) }];
    showProblems(document.getElementById("launch-errors"), problems);
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
recolorSelects();
watchStatus();
launchForm();
cancelButton();
apiLinks();
