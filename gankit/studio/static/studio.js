// gankit studio: the page. Vanilla JavaScript, no build step, nothing from the web.
// Every panel sends its fields to the studio's JSON API (gankit/studio/app.py) and shows
// the PNGs it answers with. The page keeps its own state (this tab's), the server none.
"use strict";

const state = {
  runs: [], run: null, limits: {}, search: {},
  projection: null,            // {z, label} of the last projection, for the edit sliders
  inpaint: {source: null, image: null, mask: null, width: 0, height: 0, drawing: false,
            last: null},
  seq: {},                     // the latest request of each panel: older answers are dropped
  shown: new Set(),            // the panels shown since the run was chosen
};

const $ = (selector, root = document) => root.querySelector(selector);

// --- talking to the server --------------------------------------------------------------

async function api(path, {json, form} = {}) {
  const init = {method: json || form ? "POST" : "GET", headers: {"X-Gankit-Studio": "1"}};
  if (json) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  if (form) init.body = form;
  const response = await fetch(path, init);
  let body;
  try {
    body = await response.json();
  } catch (e) {
    body = {error: `the server answered ${response.status} without an explanation`};
  }
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

// Run one request of a panel: shows "working", then the error or nothing, and marks the
// panel (data-state, data-done: a count of answers) so that a test can wait for it.
async function task(panel, work) {
  const section = $(`#panel-${panel}`);
  const message = $(".message", section);
  const seq = (state.seq[panel] || 0) + 1;
  state.seq[panel] = seq;
  section.dataset.state = "busy";
  message.className = "message busy";
  message.textContent = "working…";
  try {
    const show = await work();
    if (state.seq[panel] !== seq) return;  // a newer request of this panel is under way
    show();
    message.className = "message";
    message.textContent = "";
    section.dataset.state = "done";
  } catch (error) {
    if (state.seq[panel] !== seq) return;
    message.className = "message error";
    message.textContent = error.message;
    section.dataset.state = "error";
  }
  section.dataset.done = String(Number(section.dataset.done || 0) + 1);
}

function showImage(img, uri, width = 360) {
  img.onload = () => {
    const scale = Math.max(1, Math.floor(width / img.naturalWidth));
    img.style.width = `${img.naturalWidth * scale}px`;
  };
  img.src = uri;
}

function fields(form) {
  const out = {run: state.run.index};
  for (const element of form.elements) {
    if (!element.name || element.type === "file" || element.type === "submit") continue;
    out[element.name] = element.value;
  }
  return out;
}

// numbers where the API wants numbers, null for "no class"
function numeric(values, keys) {
  for (const key of keys) if (key in values) values[key] = Number(values[key]);
  if ("class" in values) values.class = values.class === "" ? null : Number(values.class);
  return values;
}

// --- the run picker and the tabs ----------------------------------------------------------

function selectPanel(name) {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.panel === name));
  }
  for (const section of document.querySelectorAll(".panel")) {
    section.hidden = section.id !== `panel-${name}`;
  }
  if (name === "run") loadHistory();
  if (!state.shown.has(name) && (name === "generate" || name === "walk")) {
    state.shown.add(name);  // the first look at a panel shows something at once
    if (name === "generate") generate(); else walk();
  }
}

function classOptions(select, classes, keepFirst = true) {
  const first = keepFirst ? select.options[0] : null;
  select.replaceChildren(...(first ? [first] : []));
  for (let k = 0; k < classes; k++) select.add(new Option(String(k), String(k)));
  select.closest("label").hidden = classes === 0;
}

function sliders(container, count, onChange) {
  container.replaceChildren();
  for (let k = 0; k < count; k++) {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"),
                                {type: "range", min: -3, max: 3, step: 0.1, value: 0});
    input.dataset.direction = String(k);
    input.setAttribute("aria-label", `SeFa direction ${k}`);
    const out = document.createElement("output");
    out.textContent = "0";
    input.addEventListener("input", () => { out.textContent = input.value; onChange(); });
    label.append(`direction ${k}`, input, out);
    container.append(label);
  }
}

function amounts(container) {
  return [...container.querySelectorAll("input")].map((input) => Number(input.value));
}

function chooseRun(index) {
  const run = state.runs[index];
  state.run = run;
  state.projection = null;
  state.shown = new Set();
  const image = run.image ? `${run.image.width}x${run.image.height}, ` : "";
  $("#run-info").textContent = `${run.name}: step ${run.step}, ${image}${run.what}` +
    (run.classes ? `, ${run.classes} classes` : "");
  for (const button of document.querySelectorAll("#tabs button")) {
    const offered = run.panels.includes(button.dataset.panel);
    button.disabled = !offered;
    button.title = offered ? "" : (run.notes[button.dataset.panel] ||
                                   "this run's kind does not serve it");
  }
  for (const select of document.querySelectorAll("select[name=class]")) {
    classOptions(select, run.classes);
  }
  classOptions($("#edit-class"), run.classes);
  $("#walk-form select[name=class]").value = run.classes ? "0" : "";
  sliders($("#walk-sliders"), run.sliders, walk);
  sliders($("#edit-sliders"), run.sliders, edit);
  $("#edit-controls").hidden = true;
  const directions = $("#translate-form select[name=direction]");
  directions.replaceChildren(...Object.keys(run.translations).map((d) => new Option(d, d)));
  resetInpaint();
  const open = document.querySelector("#tabs button[aria-selected=true]");
  const keep = open && run.panels.includes(open.dataset.panel);
  selectPanel(keep ? open.dataset.panel : run.panels[0]);
}

// --- generate and walk --------------------------------------------------------------------

function generate(event) {
  if (event) event.preventDefault();
  const request = numeric(fields($("#generate-form")), ["seed", "grid", "truncation"]);
  task("generate", async () => {
    const answer = await api("/api/generate", {json: request});
    return () => {
      showImage($("#generate-image"), answer.image, 480);
      $("#generate-command").textContent = answer.command;
    };
  });
}

function walk() {
  const request = numeric(fields($("#walk-form")),
                          ["seed_a", "seed_b", "frames", "truncation"]);
  const slider = $("#walk-slider");
  slider.max = String(request.frames - 1);
  request.frame = Math.min(Number(slider.value), request.frames - 1);
  request.amounts = amounts($("#walk-sliders"));
  $("#walk-position").textContent = `${request.frame} / ${request.frames - 1}`;
  task("walk", async () => {
    const answer = await api("/api/walk", {json: request});
    return () => {
      showImage($("#walk-image"), answer.image, 280);
      $("#walk-command").textContent = answer.command;
    };
  });
}

// --- project and edit ---------------------------------------------------------------------

function uploadForm(form, extra = {}) {
  const data = new FormData();
  data.append("run", String(state.run.index));
  for (const element of form.elements) {
    if (element.name && element.type !== "file" && element.type !== "submit" &&
        element.value !== "") data.append(element.name, element.value);
  }
  for (const [key, value] of Object.entries(extra)) data.append(key, value, `${key}.png`);
  return data;
}

function project(event) {
  event.preventDefault();
  const form = $("#project-form");
  const file = form.elements.image.files[0];
  if (!file) return task("project", async () => { throw new Error("choose an image first"); });
  task("project", async () => {
    const answer = await api("/api/project", {form: uploadForm(form, {image: file})});
    return () => {
      state.projection = {z: answer.z, label: answer.label};
      showImage($("#project-upload"), answer.upload, 240);
      showImage($("#project-reconstruction"), answer.reconstruction, 240);
      showImage($("#project-edited"), answer.reconstruction, 240);
      const found = answer.label === null ? "" : `; class found: ${answer.label}`;
      $("#project-fit").textContent = `fit MSE ${answer.fit_mse.toFixed(5)}, PSNR ` +
        `${answer.psnr.toFixed(1)} dB (pixels in [0, 1])${found}`;
      $("#project-command").textContent = answer.command;
      $("#edit-controls").hidden = state.run.sliders === 0 && state.run.classes === 0;
      for (const input of document.querySelectorAll("#edit-sliders input")) input.value = 0;
      $("#edit-class").value = "";
    };
  });
}

function edit() {
  if (!state.projection) return;
  const chosen = $("#edit-class").value;
  const request = {run: state.run.index, z: state.projection.z,
                   label: state.projection.label,
                   class: chosen === "" ? null : Number(chosen),
                   amounts: amounts($("#edit-sliders"))};
  task("project", async () => {
    const answer = await api("/api/edit", {json: request});
    return () => showImage($("#project-edited"), answer.image, 240);
  });
}

// --- inpaint: draw the missing region with the mouse --------------------------------------

function resetInpaint() {
  const ip = state.inpaint;
  Object.assign(ip, {source: null, image: null, mask: null, drawing: false, last: null});
  const canvas = $("#inpaint-canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

function dataUriBlob(uri) {
  const [head, body] = uri.split(",");
  const bytes = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  return new Blob([bytes], {type: head.slice(5).split(";")[0]});
}

function setInpaintSource(blob) {
  const ip = state.inpaint;
  const image = new Image();
  image.onload = () => {
    ip.source = blob;
    ip.image = image;
    ip.width = image.naturalWidth;
    ip.height = image.naturalHeight;
    ip.mask = new Uint8Array(ip.width * ip.height);
    const canvas = $("#inpaint-canvas");
    const scale = Math.max(1, Math.floor(336 / Math.max(ip.width, ip.height)));
    canvas.width = ip.width * scale;
    canvas.height = ip.height * scale;
    drawInpaint();
    $("#panel-inpaint").dataset.source = String(Number($("#panel-inpaint").dataset.source || 0) + 1);
  };
  image.src = URL.createObjectURL(blob);
}

function drawInpaint() {
  const ip = state.inpaint;
  const canvas = $("#inpaint-canvas");
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(ip.image, 0, 0, canvas.width, canvas.height);
  const scale = canvas.width / ip.width;
  context.fillStyle = "rgba(229, 57, 53, 0.75)";
  for (let y = 0; y < ip.height; y++) {
    for (let x = 0; x < ip.width; x++) {
      if (ip.mask[y * ip.width + x]) context.fillRect(x * scale, y * scale, scale, scale);
    }
  }
}

function paint(event) {
  const ip = state.inpaint;
  const canvas = $("#inpaint-canvas");
  const box = canvas.getBoundingClientRect();
  const x = (event.clientX - box.left) * ip.width / box.width;
  const y = (event.clientY - box.top) * ip.height / box.height;
  const radius = Number($("#inpaint-brush").value);
  const from = ip.last || {x, y};
  const steps = Math.max(1, Math.ceil(Math.hypot(x - from.x, y - from.y) * 2));
  for (let i = 0; i <= steps; i++) {  // the segment since the last event: no gaps
    const px = Math.floor(from.x + (x - from.x) * i / steps);
    const py = Math.floor(from.y + (y - from.y) * i / steps);
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) {
        const cx = px + dx, cy = py + dy;
        if (cx >= 0 && cy >= 0 && cx < ip.width && cy < ip.height) ip.mask[cy * ip.width + cx] = 1;
      }
    }
  }
  ip.last = {x, y};
  drawInpaint();
}

function maskBlob() {
  const ip = state.inpaint;
  const canvas = document.createElement("canvas");
  canvas.width = ip.width;
  canvas.height = ip.height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(ip.width, ip.height);
  for (let i = 0; i < ip.mask.length; i++) {
    const value = ip.mask[i] ? 255 : 0;  // white = missing
    pixels.data.set([value, value, value, 255], i * 4);
  }
  context.putImageData(pixels, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function inpaint(event) {
  event.preventDefault();
  const ip = state.inpaint;
  const settings = $("#inpaint-settings");
  task("inpaint", async () => {
    if (!ip.source) throw new Error("upload an image or take a sample first");
    const useBox = settings.elements.box.value.trim() !== "";
    if (!useBox && !ip.mask.some((v) => v)) {
      throw new Error("draw over the part to fill (or give a box)");
    }
    const files = {image: ip.source};
    if (!useBox) files.mask = await maskBlob();
    const answer = await api("/api/inpaint", {form: uploadForm(settings, files)});
    return () => {
      showImage($("#inpaint-filled"), answer.filled, 336);
      showImage($("#inpaint-mask"), answer.mask, 168);
      const found = answer.label === null ? "" : `, class ${answer.label}`;
      $("#inpaint-fit").textContent = `${answer.missing_pixels} pixels filled${found}; fit ` +
        `MSE on the known pixels ${answer.fit_mse.toFixed(5)}`;
      $("#inpaint-command").textContent = answer.command;
    };
  });
}

function takeSample() {
  const seed = Number($("#inpaint-form").elements.sample_seed.value);
  task("inpaint", async () => {
    const answer = await api("/api/generate", {json: {run: state.run.index, seed, grid: 1}});
    return () => setInpaintSource(dataUriBlob(answer.image));
  });
}

// --- translate and the run panel ------------------------------------------------------------

function translate(event) {
  event.preventDefault();
  const form = $("#translate-form");
  const file = form.elements.image.files[0];
  task("translate", async () => {
    if (!file) throw new Error("choose an image first");
    const answer = await api("/api/translate", {form: uploadForm(form, {image: file})});
    return () => {
      showImage($("#translate-input"), answer.input, 240);
      showImage($("#translate-output"), answer.output, 240);
      $("#translate-command").textContent = answer.command;
    };
  });
}

function loadHistory() {
  task("run", async () => {
    const answer = await api(`/api/history?run=${state.run.index}`);
    return () => {
      const last = answer.curves.step.length;
      $("#run-summary").textContent = `${answer.name}: preset ${answer.preset}, step ` +
        `${answer.step}; ${last} log records` + (last ? `, last loss D ` +
        `${answer.curves.loss_d[last - 1].toFixed(4)}, G ` +
        `${answer.curves.loss_g[last - 1].toFixed(4)}` : "");
      $("#run-warnings").replaceChildren(...answer.warnings.map((text) => {
        const item = document.createElement("li");
        item.textContent = text;
        return item;
      }));
      if (answer.loss_plot) $("#run-losses").src = answer.loss_plot;
      $("#run-no-scores").hidden = Boolean(answer.score_plot);
      if (answer.score_plot) $("#run-scores").src = answer.score_plot;
      else $("#run-scores").removeAttribute("src");
      $("#run-samples").replaceChildren(...answer.samples.map(({step, image}) => {
        const figure = document.createElement("figure");
        const img = Object.assign(document.createElement("img"), {className: "pix",
                                                                   alt: `step ${step}`});
        showImage(img, image, 200);
        const caption = document.createElement("figcaption");
        caption.textContent = `step ${step}`;
        figure.append(img, caption);
        return figure;
      }));
      if (answer.final) showImage($("#run-final"), answer.final, 420);
    };
  });
}

// --- start ----------------------------------------------------------------------------------

function wire() {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => selectPanel(button.dataset.panel));
  }
  $("#run-picker").addEventListener("change", (e) => chooseRun(Number(e.target.value)));
  for (const range of document.querySelectorAll("input[name=truncation]")) {
    range.addEventListener("input", () => { range.nextElementSibling.textContent = range.value; });
  }
  $("#generate-form").addEventListener("submit", generate);
  $("#walk-form").addEventListener("change", walk);
  $("#walk-form").addEventListener("submit", (e) => { e.preventDefault(); walk(); });
  $("#walk-slider").addEventListener("input", walk);
  $("#project-form").addEventListener("submit", project);
  $("#edit-class").addEventListener("change", edit);
  $("#inpaint-form").elements.image.addEventListener("change", (e) => {
    if (e.target.files[0]) setInpaintSource(e.target.files[0]);
  });
  $("#inpaint-sample").addEventListener("click", takeSample);
  $("#inpaint-clear").addEventListener("click", () => {
    if (state.inpaint.mask) { state.inpaint.mask.fill(0); drawInpaint(); }
  });
  $("#inpaint-settings").addEventListener("submit", inpaint);
  const canvas = $("#inpaint-canvas");
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.inpaint.image) return;
    state.inpaint.drawing = true;
    state.inpaint.last = null;
    canvas.setPointerCapture(e.pointerId);
    paint(e);
  });
  canvas.addEventListener("pointermove", (e) => { if (state.inpaint.drawing) paint(e); });
  canvas.addEventListener("pointerup", () => { state.inpaint.drawing = false; });
  $("#translate-form").addEventListener("submit", translate);
}

async function start() {
  wire();
  const startup = $("#startup");
  try {
    const answer = await api("/api/runs");
    Object.assign(state, {runs: answer.runs, limits: answer.limits, search: answer.search});
  } catch (error) {
    startup.className = "message error";
    startup.textContent = `cannot load the runs: ${error.message}`;
    return;
  }
  const picker = $("#run-picker");
  picker.replaceChildren(...state.runs.map((run) => new Option(
    `${run.index}: ${run.name}`, String(run.index))));
  picker.closest("label").hidden = state.runs.length < 2;
  const [projectSteps, inpaintSteps] = [state.search.project, state.search.inpaint];
  $("#project-form").elements.restarts.value = projectSteps[0];
  $("#project-form").elements.steps.value = projectSteps[1];
  $("#inpaint-settings").elements.restarts.value = inpaintSteps[0];
  $("#inpaint-settings").elements.steps.value = inpaintSteps[1];
  startup.remove();
  chooseRun(0);
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
