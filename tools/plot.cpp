#include "tools/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "tensor/error.h"

namespace moco::cli {

static std::string quoted(const std::string& s) {
  std::string o = "\"";
  for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o + "\"";
}

void plot_png(const std::string& png, const std::vector<Panel>& panels, int width, int height, int columns) {
  MOCO_CHECK(!panels.empty(), "plot: nothing to plot");
  MOCO_CHECK(std::system("command -v gnuplot > /dev/null 2>&1") == 0,
             "plot: gnuplot not found; install it with `apt-get install gnuplot-nox` (or `make deps`)");
  const std::string dat = png + ".dat", gp = png + ".gp";
  std::ofstream d(dat);
  // One gnuplot data block per series, separated by two blank lines (index i).
  int block = 0;
  const size_t cols = columns > 0 ? std::min(size_t(columns), panels.size()) : panels.size();
  std::string script = fmt::format(
      "set terminal pngcairo noenhanced size {},{} font 'sans,10'\nset output {}\nset multiplot layout {},{}\n"
      "set grid\n",
      width, height, quoted(png), (panels.size() + cols - 1) / cols, cols);
  for (const Panel& p : panels) {
    // Whole-number x values over a short range (epochs): one tick per value.
    bool integral = true;
    double xmin = 1e300, xmax = -1e300;
    for (const Series& s : p.series)
      for (double x : s.x) {
        integral = integral && x == std::floor(x);
        xmin = std::min(xmin, x);
        xmax = std::max(xmax, x);
      }
    if (!p.xtics.empty()) {
      std::string t;
      for (auto& [x, label] : p.xtics) t += fmt::format("{}{} {}", t.empty() ? "" : ", ", quoted(label), x);
      script += "set xtics (" + t + ")\n";
    } else {
      script += integral && xmax >= xmin && xmax - xmin <= 20 && !p.logx ? "set xtics 1\n" : "set xtics autofreq\n";
    }
    script += p.logx ? "set logscale x\n" : "unset logscale x\n";
    script += "set xrange " + (p.xrange.empty() ? std::string("[*:*]") : p.xrange) + "\n";
    script += p.logy ? "set logscale y\nset format y '%g'\n" : "unset logscale y\nset format y '% h'\n";
    script += "set yrange " + (p.yrange.empty() ? std::string("[*:*]") : p.yrange) + "\n";
    // Key options persist from panel to panel in gnuplot (one panel's legend
    // below the plot would move every later one): each starts from the defaults.
    script += fmt::format("set key default\nset key {}\nset title {}\nset xlabel {}\nset ylabel {}\nplot ", p.key,
                          quoted(p.title), quoted(p.xlabel), quoted(p.ylabel));
    for (size_t i = 0; i < p.series.size(); ++i) {
      const Series& s = p.series[i];
      MOCO_CHECK(s.lo.empty() || (s.lo.size() == s.y.size() && s.hi.size() == s.y.size()),
                 "plot: series '{}' has {} points but a band of {} / {}", s.name, s.y.size(), s.lo.size(), s.hi.size());
      const bool band = !s.lo.empty();
      for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
        d << s.x[k] << " " << s.y[k];
        if (band) d << " " << s.lo[k] << " " << s.hi[k];
        d << "\n";
      }
      d << "\n\n";
      const std::string color = s.color.empty() ? "" : " lc rgb " + quoted(s.color);
      if (band)  // the band first, so the line stays on top of it
        script += fmt::format("{}{} index {} using 1:3:4 with filledcurves fs transparent solid 0.18 noborder{} notitle",
                              i ? ", " : "", quoted(dat), block, color);
      const std::string style = !s.style.empty() ? s.style + (s.dashed ? " dt 2" : "")
                                : std::string(s.points ? "linespoints pt 7 ps 0.5 lw 2" : "lines lw 1.5") +
                                      (s.dashed ? " dt 2" : "");
      script += fmt::format("{}{} index {} using 1:2 with {}{} title {}", i || band ? ", " : "", quoted(dat), block++,
                            style, color, quoted(s.name));
    }
    script += "\n";
  }
  script += "unset multiplot\n";
  d.close();
  std::ofstream(gp) << script;
  const int rc = std::system(("gnuplot " + quoted(gp) + " 2> " + quoted(png + ".log")).c_str());
  MOCO_CHECK(rc == 0, "plot: gnuplot failed on {} (see {}.log)", gp, png);
}

}  // namespace moco::cli
