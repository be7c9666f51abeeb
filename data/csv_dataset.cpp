#include "data/csv_dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

namespace dynpmnn {

namespace {

constexpr std::array<const char*, 3> kSplitNames = {"train", "validation", "test"};

std::string shown(std::string_view text) {
  // A binary file would otherwise put a whole megabyte into the message.
  constexpr std::size_t kMaxShown = 40;
  return fmt::format("'{}{}'", text.substr(0, kMaxShown), text.size() > kMaxShown ? "..." : "");
}

[[noreturn]] void fail_line(const std::string& source, int line, const std::string& what) {
  throw DataError(fmt::format("{}: line {}: {}", source, line, what));
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// A finite number spelled in full (leading '+' allowed); nullopt otherwise.
std::optional<double> parse_number(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// One line's fields; quotes are removed, blanks outside them trimmed.
std::vector<std::string> split_fields(std::string_view line, char delimiter, const std::string& source, int number) {
  std::vector<std::string> fields;
  std::size_t i = 0;
  while (true) {
    std::string field;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t') && line[i] != delimiter) ++i;
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) fail_line(source, number, "a quoted field is not closed (a '\"' is missing)");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      const std::size_t next = line.find(delimiter, i);
      if (!trim(line.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i)).empty())
        fail_line(source, number, "text after a closing quote");
      i = next;
    } else {
      const std::size_t next = line.find(delimiter, i);
      field = std::string(trim(line.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i)));
      i = next;
    }
    fields.push_back(std::move(field));
    if (i == std::string_view::npos) break;
    ++i;  // past the delimiter
  }
  return fields;
}

// The one of ',', ';' and tab the header holds most often (outside quotes); ',' on a tie or none.
char detect_delimiter(std::string_view header) {
  int comma = 0, semicolon = 0, tab = 0;
  bool quoted = false;
  for (const char c : header) {
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    comma += c == ',';
    semicolon += c == ';';
    tab += c == '\t';
  }
  if (semicolon > comma && semicolon >= tab) return ';';
  if (tab > comma && tab > semicolon) return '\t';
  return ',';
}

int column_index(const CsvText& csv, const std::string& source, const std::string& name, const char* role) {
  const auto it = std::find(csv.header.begin(), csv.header.end(), name);
  if (it == csv.header.end())
    throw DataError(fmt::format("{}: no column named '{}' for the {} (the header has: {})", source, name, role,
                                fmt::join(csv.header, ", ")));
  return static_cast<int>(it - csv.header.begin());
}

double number_at(const CsvText& csv, const std::string& source, std::size_t row, int column) {
  const std::string& field = csv.rows[row][static_cast<std::size_t>(column)];
  const std::optional<double> value = parse_number(field);
  if (!value) {
    double parsed = 0;
    const std::string_view digits = std::string_view(field).substr(field.starts_with('+') ? 1 : 0);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
    const bool non_finite = ec == std::errc() && end == digits.data() + digits.size();  // nan, inf
    // 1e999: a number, but beyond a double (strtod gives inf where from_chars gives up).
    const bool overflows =
        ec == std::errc::result_out_of_range && std::isinf(std::strtod(std::string(digits).c_str(), nullptr));
    const std::string why = field.empty() ? "empty field, expected a number"
                            : non_finite  ? shown(field) + " is not a finite number"
                            : overflows   ? shown(field) + " overflows a double (beyond ±1.8e308)"
                                          : shown(field) + " is not a number";
    fail_line(source, csv.lines[row],
              fmt::format("column '{}': {}", csv.header[static_cast<std::size_t>(column)], why));
  }
  return *value;
}

// x and y of the rows `rows` (indices into csv.rows).
Dataset gather(const std::vector<std::vector<double>>& x, const std::vector<double>& y, const std::vector<int>& rows,
               int features) {
  Dataset d;
  d.rows = static_cast<int>(rows.size());
  d.features = features;
  d.targets = 1;
  d.x.reserve(rows.size() * static_cast<std::size_t>(features));
  for (const int r : rows) {
    d.x.insert(d.x.end(), x[static_cast<std::size_t>(r)].begin(), x[static_cast<std::size_t>(r)].end());
    d.y.push_back(y[static_cast<std::size_t>(r)]);
  }
  return d;
}

SplitData make_splits(const CsvText& csv, const std::string& source, const CsvOptions& options, const Scaler* given) {
  // The options.
  const double sum = options.split[0] + options.split[1] + options.split[2];
  for (const double f : options.split)
    if (!(f >= 0 && f <= 1))
      throw DataError(fmt::format("split = [{}]: each fraction must be in [0, 1]", fmt::join(options.split, ", ")));
  if (std::abs(sum - 1.0) > 1e-6)
    throw DataError(fmt::format("split = [{}]: the train, validation and test fractions must sum to 1 (they sum to {})",
                                fmt::join(options.split, ", "), sum));
  if (options.target.empty()) throw DataError(source + ": no target column given (the target key)");
  const int target = column_index(csv, source, options.target, "target");
  std::vector<std::string> names = options.features;
  if (names.empty()) {
    for (const std::string& h : csv.header)
      if (h != options.target) names.push_back(h);
  } else {
    for (std::size_t j = 0; j < names.size(); ++j) {
      if (names[j] == options.target)
        throw DataError(fmt::format("features: '{}' is the target column; it cannot also be a feature", names[j]));
      if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(j), names[j]) !=
          names.begin() + static_cast<std::ptrdiff_t>(j))
        throw DataError(fmt::format("features: '{}' is listed twice", names[j]));
    }
  }
  if (names.empty())
    throw DataError(fmt::format("{}: no feature columns besides the target '{}'", source, options.target));
  std::vector<int> columns;
  for (const std::string& name : names) columns.push_back(column_index(csv, source, name, "features"));
  const int F = static_cast<int>(columns.size());
  const std::size_t rows = csv.rows.size();
  if (rows == 0) throw DataError(source + ": no data rows after the header");

  // Values.
  std::vector<std::vector<double>> x(rows, std::vector<double>(static_cast<std::size_t>(F)));
  std::vector<double> y(rows);
  for (std::size_t r = 0; r < rows; ++r)
    for (int j = 0; j < F; ++j) x[r][static_cast<std::size_t>(j)] = number_at(csv, source, r, columns[j]);
  SplitData out;
  std::vector<std::vector<int>> groups;  // rows to split together: one per class, or all
  if (options.task == Task::kClassification) {
    std::vector<std::string> labels;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::string& label = csv.rows[r][static_cast<std::size_t>(target)];
      if (label.empty()) fail_line(source, csv.lines[r], fmt::format("column '{}': empty class label", options.target));
      labels.push_back(label);
    }
    out.class_labels = sorted_class_labels(labels);
    std::map<std::string, int> index;
    for (std::size_t k = 0; k < out.class_labels.size(); ++k) index[out.class_labels[k]] = static_cast<int>(k);
    groups.resize(out.class_labels.size());
    for (std::size_t r = 0; r < rows; ++r) {
      const int k = index.at(labels[r]);
      y[r] = k;
      groups[static_cast<std::size_t>(k)].push_back(static_cast<int>(r));
    }
    if (out.class_labels.size() < 2)
      throw DataError(fmt::format("{}: column '{}' holds one class only ('{}'); classification needs two or more",
                                  source, options.target, out.class_labels.front()));
    for (std::size_t k = 0; k < groups.size(); ++k)
      if (groups[k].size() == 1)
        throw DataError(fmt::format("{}: class '{}' of column '{}' has a single row (line {}); the stratified split "
                                    "needs at least two rows of every class",
                                    source, out.class_labels[k], options.target,
                                    csv.lines[static_cast<std::size_t>(groups[k].front())]));
  } else {
    for (std::size_t r = 0; r < rows; ++r) y[r] = number_at(csv, source, r, target);
    groups.emplace_back(rows);
    for (std::size_t r = 0; r < rows; ++r) groups[0][r] = static_cast<int>(r);
  }

  // The split: each group shuffled (Fisher-Yates with a 64-bit Mersenne twister, the same on every
  // standard library, unlike std::shuffle) and cut at the rounded fractions.
  std::mt19937_64 gen(options.seed);
  std::array<std::vector<int>, 3> parts;
  for (std::vector<int>& group : groups) {
    for (std::size_t i = group.size(); i > 1; --i) std::swap(group[i - 1], group[gen() % i]);
    const std::size_t n = group.size();
    const std::size_t n_train = std::min(n, static_cast<std::size_t>(std::llround(options.split[0] * n)));
    const std::size_t n_val = std::min(n - n_train, static_cast<std::size_t>(std::llround(options.split[1] * n)));
    parts[0].insert(parts[0].end(), group.begin(), group.begin() + n_train);
    parts[1].insert(parts[1].end(), group.begin() + n_train, group.begin() + n_train + n_val);
    parts[2].insert(parts[2].end(), group.begin() + n_train + n_val, group.end());
  }
  for (int s = 0; s < 3; ++s) {
    if (parts[s].empty())
      throw DataError(fmt::format("{}: split = [{}] leaves the {} split without rows ({} rows in all, {} / {} / {}); "
                                  "change the fractions or use more data",
                                  source, fmt::join(options.split, ", "), kSplitNames[s], rows, parts[0].size(),
                                  parts[1].size(), parts[2].size()));
    std::sort(parts[s].begin(), parts[s].end());
  }
  out.train = gather(x, y, parts[0], F);
  out.val = gather(x, y, parts[1], F);
  out.test = gather(x, y, parts[2], F);
  out.scaler = given != nullptr ? *given : fit_scaler(out.train, names, source, out.warnings);
  if (out.scaler.mean.size() != static_cast<std::size_t>(F))
    throw DataError(fmt::format("{}: {} feature columns, the scaler has {}", source, F, out.scaler.mean.size()));
  for (Dataset* d : {&out.train, &out.val, &out.test}) out.scaler.apply(d->x, F);
  out.feature_names = std::move(names);
  out.source = source;
  return out;
}

}  // namespace

Task task_from_string(std::string_view name) {
  if (name == "regression") return Task::kRegression;
  if (name == "classification") return Task::kClassification;
  throw std::invalid_argument(fmt::format("task = '{}' is unknown (expected regression or classification)", name));
}

const char* to_string(Task task) { return task == Task::kClassification ? "classification" : "regression"; }

std::array<double, 3> parse_split_fractions(std::string_view text) {
  std::array<double, 3> split{};
  std::size_t count = 0;
  std::size_t pos = 0;
  auto bad = [&](const std::string& why) {
    return std::invalid_argument(fmt::format("split = '{}' {}", text, why));
  };
  while (true) {
    const std::size_t comma = text.find(',', pos);
    const std::string_view item = trim(text.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
    const std::optional<double> value = parse_number(item);
    if (!value) throw bad(fmt::format("holds '{}', not a number (expected three fractions, e.g. 0.7,0.15,0.15)", item));
    if (count == 3) throw bad("holds more than three fractions (train, validation, test)");
    if (*value < 0 || *value > 1) throw bad(fmt::format("holds {}, outside [0, 1]", *value));
    split[count++] = *value;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (count != 3) throw bad(fmt::format("holds {} fractions, expected three (train, validation, test)", count));
  const double sum = split[0] + split[1] + split[2];
  if (std::abs(sum - 1.0) > 1e-6) throw bad(fmt::format("sums to {}, the fractions must sum to 1", sum));
  return split;
}

std::vector<std::string> parse_column_list(std::string_view text, std::string_view key) {
  std::vector<std::string> names;
  if (trim(text).empty()) return names;
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = text.find(',', pos);
    const std::string name(trim(text.substr(pos, comma == std::string_view::npos ? comma : comma - pos)));
    if (name.empty()) throw std::invalid_argument(fmt::format("{} = '{}' holds an empty column name", key, text));
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw std::invalid_argument(fmt::format("{} = '{}' lists the column '{}' twice", key, text, name));
    names.push_back(name);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return names;
}

CsvText parse_csv(std::string_view text, const std::string& name) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  CsvText csv;
  bool have_header = false;
  int line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (trim(line).empty()) continue;
    if (!have_header) {
      csv.delimiter = detect_delimiter(line);
      csv.header = split_fields(line, csv.delimiter, name, line_number);
      bool all_numbers = true;
      for (std::size_t j = 0; j < csv.header.size(); ++j) {
        const std::string& h = csv.header[j];
        if (h.empty()) fail_line(name, line_number, fmt::format("header: column {} has no name", j + 1));
        for (std::size_t k = 0; k < j; ++k)
          if (csv.header[k] == h)
            fail_line(name, line_number, fmt::format("header: column name '{}' appears twice (columns {} and {})", h,
                                                     k + 1, j + 1));
        all_numbers = all_numbers && parse_number(h).has_value();
      }
      if (all_numbers)
        fail_line(name, line_number, fmt::format("the first line holds numbers only ({}); a header row naming the "
                                                 "columns is required",
                                                 shown(trim(line))));
      have_header = true;
      continue;
    }
    std::vector<std::string> fields = split_fields(line, csv.delimiter, name, line_number);
    if (fields.size() != csv.header.size())
      fail_line(name, line_number,
                fmt::format("{} fields, the header has {} columns (delimiter '{}')", fields.size(), csv.header.size(),
                            csv.delimiter == '\t' ? "\\t" : std::string(1, csv.delimiter)));
    csv.rows.push_back(std::move(fields));
    csv.lines.push_back(line_number);
  }
  if (!have_header) throw DataError(name + ": empty file, expected a header row naming the columns");
  return csv;
}

CsvText read_csv(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw DataError(
        fmt::format("{}: {}", path, std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot be opened");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_csv(text, path);
}

std::vector<std::string> sorted_class_labels(std::vector<std::string> labels) {
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  const bool numeric =
      std::all_of(labels.begin(), labels.end(), [](const std::string& l) { return parse_number(l).has_value(); });
  if (numeric)
    std::stable_sort(labels.begin(), labels.end(),
                     [](const std::string& a, const std::string& b) { return *parse_number(a) < *parse_number(b); });
  return labels;
}

SplitData make_csv_splits(const CsvText& csv, const std::string& source, const CsvOptions& options) {
  return make_splits(csv, source, options, nullptr);
}

SplitData make_csv_splits(const CsvText& csv, const std::string& source, const CsvOptions& options,
                          const Scaler& scaler) {
  return make_splits(csv, source, options, &scaler);
}

SplitData load_csv_dataset(const std::string& path, const CsvOptions& options) {
  return make_csv_splits(read_csv(path), path, options);
}

Table csv_feature_table(const CsvText& csv, const std::string& source, const std::vector<std::string>& features) {
  std::vector<int> columns;
  for (const std::string& name : features) columns.push_back(column_index(csv, source, name, "features"));
  Table t;
  t.rows = static_cast<int>(csv.rows.size());
  t.cols = static_cast<int>(columns.size());
  t.values.reserve(csv.rows.size() * columns.size());
  for (std::size_t r = 0; r < csv.rows.size(); ++r)
    for (const int c : columns) t.values.push_back(number_at(csv, source, r, c));
  return t;
}

}  // namespace dynpmnn
