// csv_field, the one quoting rule of the CSV files the CLI writes: RFC 4180 quoting, also for the
// semicolon and the tab, and a header written with it reads back through our own parse_csv.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/csv_dataset.h"
#include "host/io/csv.h"

namespace dynpmnn {
namespace {

TEST(CsvField, PlainTextIsUnchanged) {
  EXPECT_EQ(csv_field("MedHouseVal"), "MedHouseVal");
  EXPECT_EQ(csv_field("p_class 1"), "p_class 1");  // a blank is no reason to quote
  EXPECT_EQ(csv_field(""), "");
}

TEST(CsvField, QuotesADelimiterOrALineBreak) {
  EXPECT_EQ(csv_field("6,3"), "\"6,3\"");
  EXPECT_EQ(csv_field("a;b"), "\"a;b\"");
  EXPECT_EQ(csv_field("a\tb"), "\"a\tb\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("two\r\nlines"), "\"two\r\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
}

TEST(CsvField, DoublesEachQuote) {
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("\""), "\"\"\"\"");
  EXPECT_EQ(csv_field("\"a,b\""), "\"\"\"a,b\"\"\"");
}

// The header predict writes for a classification run with awkward labels, parsed by the reader that
// detects the delimiter from the header: every label comes back whole, and ',' stays the delimiter.
TEST(CsvField, HeaderReadsBackThroughParseCsv) {
  const std::vector<std::string> names = {"class", "p_a;b", "p_c\td", "p_\"e\"", "p_f,g"};
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) text += (i ? "," : "") + csv_field(names[i]);
  text += "\nx,1,2,3,4\n";
  const CsvText csv = parse_csv(text, "header.csv");
  EXPECT_EQ(csv.delimiter, ',');
  EXPECT_EQ(csv.header, names);
  ASSERT_EQ(csv.rows.size(), 1u);
  EXPECT_EQ(csv.rows[0].size(), names.size());
}

}  // namespace
}  // namespace dynpmnn
