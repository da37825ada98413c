// Draws the page's chart from its JSON data block with Plotly (served by the service itself).
(function () {
  "use strict";
  var holder = document.getElementById("chart");
  var block = document.getElementById("page-data");
  if (!holder || !block || typeof Plotly === "undefined") { return; }
  var data = JSON.parse(block.textContent);
  var layout = {
    margin: {l: 60, r: 20, t: 20, b: 50}, height: 380, hovermode: "x unified",
    legend: {orientation: "h", y: -0.2}, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    xaxis: {gridcolor: "#eee"}, yaxis: {gridcolor: "#eee", rangemode: "tozero"}
  };
  var config = {displaylogo: false, responsive: true};
  var traces = [];
  if (data.kind === "demand") {
    var f = data.forecast;
    if (f) {
      var name = f.band ? f.band[0] + "–" + f.band[1] : "band";
      traces.push({x: f.x, y: f.high, mode: "lines", line: {width: 0}, showlegend: false,
                   hoverinfo: "skip", type: "scatter"});
      traces.push({x: f.x, y: f.low, mode: "lines", line: {width: 0}, fill: "tonexty",
                   fillcolor: "rgba(31,119,180,0.2)", name: name, type: "scatter"});
      traces.push({x: f.x, y: f.p50, mode: "lines", line: {color: "#1f77b4", width: 2},
                   name: "forecast P50", type: "scatter"});
    }
    traces.push({x: data.actual.x, y: data.actual.y, mode: "lines",
                 line: {color: "#222", width: 1.5}, name: "actual", type: "scatter"});
    if (data.peak) {
      traces.push({x: [data.peak.time], y: [data.peak.p50], mode: "markers",
                   marker: {color: "#d62728", size: 10, symbol: "triangle-down"},
                   name: "next day's peak", type: "scatter"});
    }
    layout.yaxis.title = {text: data.unit + " in the hour"};
  } else if (data.kind === "risk") {
    var colours = data.x.map(function (_, i) { return i < data.budget ? "#d62728" : "#9aa5b1"; });
    traces.push({x: data.x, y: data.y, type: "bar", marker: {color: colours},
                 name: "failure probability"});
    layout.yaxis.title = {text: "failure probability"};
    layout.yaxis.tickformat = ".1%";
    layout.margin.b = 80;
    layout.xaxis.automargin = true;
    layout.hovermode = "closest";
    if (data.budget > 0 && data.budget <= data.x.length) {
      layout.shapes = [{type: "line", xref: "x", yref: "paper", x0: data.budget - 0.5,
                        x1: data.budget - 0.5, y0: 0, y1: 1,
                        line: {color: "#d62728", dash: "dash"}}];
      layout.annotations = [{x: data.budget - 0.5, y: 1, xref: "x", yref: "paper",
                             text: "weekly budget", showarrow: false, xanchor: "left",
                             yanchor: "top"}];
    }
  } else if (data.kind === "theft") {
    traces.push({x: data.x, y: data.y, type: "bar", name: "theft probability",
                 marker: {color: "#ff7f0e"}});
    traces.push({x: data.x, y: data.loss, type: "scatter", mode: "markers", yaxis: "y2",
                 name: "transformer loss ratio (28 d)", marker: {color: "#1f77b4"}});
    layout.yaxis.title = {text: "theft probability"};
    layout.margin.b = 80;
    layout.margin.r = 80;
    layout.xaxis.automargin = true;
    layout.legend = {orientation: "h", y: 1.12};
    layout.yaxis.tickformat = ".0%";
    layout.yaxis2 = {overlaying: "y", side: "right", tickformat: ".0%",
                     title: {text: "loss ratio"}, rangemode: "tozero", showgrid: false};
    layout.hovermode = "closest";
  }
  var skill = document.getElementById("skill");
  if (skill && data.skill) {
    var s = data.skill;
    Plotly.newPlot(skill, [{
      x: s.lead_hours, y: s.skill, type: "bar", name: s.model + " skill",
      marker: {color: s.skill.map(function (v) { return v >= 0 ? "#2ca02c" : "#d62728"; })}
    }], {
      margin: {l: 60, r: 20, t: 10, b: 40}, height: 220, paper_bgcolor: "#fff",
      plot_bgcolor: "#fff", xaxis: {title: {text: "lead (hours after the issue time)"}},
      yaxis: {title: {text: "skill vs naive"}, tickformat: ".0%", gridcolor: "#eee"}
    }, config);
  } else if (skill) {
    skill.textContent = "The served run logged no lead-time skill for this level.";
  }
  Plotly.newPlot(holder, traces, layout, config).then(function () {
    holder.setAttribute("data-drawn", "true");
  });
})();
