// Writing CSV files (the reader is data/csv_dataset.h): one quoting rule for every file the CLI writes
// (predict's output, the sweep's and the table's results), so that a label or a key with a comma
// cannot shift a column in one file but not in another.
#pragma once

#include <string>
#include <string_view>

namespace dynpmnn {

// A field as RFC 4180 writes it: unchanged, or in double quotes with each quote doubled when it holds
// a comma, a quote or a line break (CR or LF). A semicolon or a tab is quoted too: our own reader
// (parse_csv) and spreadsheets guess the delimiter from the header line, and an unquoted ';' in a
// column name would make them split on ';'.
std::string csv_field(std::string_view text);

}  // namespace dynpmnn
