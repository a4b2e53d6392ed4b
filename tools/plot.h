// Line plots as PNG through gnuplot (Debian's gnuplot-nox): panels side by
// side, several named series per panel. Used for training curves, and for
// histograms drawn as steps (Series::style).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace moco::cli {

struct Series {
  Series(std::string n = "", std::vector<double> xs = {}, std::vector<double> ys = {}, std::string c = "")
      : name(std::move(n)), x(std::move(xs)), y(std::move(ys)), color(std::move(c)) {}
  std::string name;
  std::vector<double> x, y;
  std::string color = "";  // e.g. "#1f77b4"; empty: gnuplot's next colour
  bool dashed = false;     // a reference level (chance, 1/sqrt(d)) rather than a measurement
  bool points = true;      // false: a plain line, for curves of hundreds of points
  std::string style = "";  // gnuplot's plot style instead of the above, e.g. "histeps lw 2" for a histogram
  // Optional band around the line (e.g. min-max over seeds), drawn shaded
  // under it: empty, or one lo and one hi per point.
  std::vector<double> lo, hi;
};

struct Panel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  std::string key = "bottom right";  // legend position (gnuplot's `set key ...`)
  bool logy = false;                 // logarithmic y axis (values over several decades)
  std::string yrange = "";           // gnuplot's `set yrange`, e.g. "[0:*]"; empty: autoscale
  bool logx = false;                 // logarithmic x axis (e.g. queue sizes over powers of 2)
  std::string xrange = "";           // gnuplot's `set xrange`; empty: autoscale
  // Labelled x ticks in place of gnuplot's own: settings drawn as categories
  // (m = 0, 0.9, 0.99 at x = 0, 1, 2), or only at the values measured.
  std::vector<std::pair<double, std::string>> xtics = {};
};

// Writes `png` (and the gnuplot script and data beside it, `png` + ".gp").
// Throws with a hint to install gnuplot-nox when gnuplot is missing.
// `columns` panels per row, as many rows as needed (0: all in one row).
void plot_png(const std::string& png, const std::vector<Panel>& panels, int width = 1200, int height = 450,
              int columns = 0);

}  // namespace moco::cli
