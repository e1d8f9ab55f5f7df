// The --where language (analytics/expr.h): what each expression says about hand-made rows,
// SQL precedence, and an error with a position for every kind of bad input.
#include "analytics/expr.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

// Every operator new in this test binary is counted, so a test can say that Matches allocates
// nothing per row.
namespace {
std::atomic<uint64_t> g_allocations{0};
// Out of line: GCC's -Wmismatched-new-delete takes an inlined free() of new's pointer for a
// mismatch.
[[gnu::noinline]] void Release(void* p) { std::free(p); }
}  // namespace

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { Release(p); }
void operator delete(void* p, size_t) noexcept { Release(p); }

namespace spate {
namespace {

// Two rows with every column set, and a third with the text columns empty.
Row Anna() {
  Row row;
  row.id = "0b6a3f2e-1111-4c3b-9a57-0123456789ab";
  row.first_name = "Anna";
  row.last_name = "O'Brien";
  row.gender = "female";
  row.address = "12 Main Street, Berlin, Berlin, Germany";
  row.post_code = "10115";
  row.email = "anna.obrien@example.com";
  row.username = "bluebird42";
  row.registered_date = "2015-06-01T10:00:00.000Z";
  row.phone = "030-1234567";
  row.picture = "https://randomuser.me/api/portraits/med/women/1.jpg";
  row.dob = "1987-03-14T08:00:00.000Z";
  row.age = 37;
  row.nat = "DE";
  row.city = "Berlin";
  row.state = "Berlin";
  row.country = "Germany";
  row.latitude = 52.52;
  row.longitude = 13.405;
  row.timezone = "+1:00";
  row.cell = "0170-1234567";
  row.ingested_at_ms = 1796400000000;  // 2026-12-05T...
  return row;
}

Row Luc() {
  Row row = Anna();
  row.first_name = "Luc";
  row.last_name = "Durand";
  row.gender = "male";
  row.email = "LUC@EXAMPLE.FR";
  row.username = "lu";
  row.country = "France";
  row.nat = "FR";
  row.city = "Lyon";
  row.age = 29;
  row.latitude = -45.75;
  row.longitude = 4.85;
  row.dob = "1997-01-01T00:00:00.000Z";
  row.registered_date = "1990-01-01T00:00:00.000Z";  // Before the dob: bad data.
  row.ingested_at_ms = 1796400060000;
  return row;
}

Row Blank() {
  Row row;
  row.age = -3;
  return row;
}

bool Eval(const std::string& text, const Row& row) {
  Result<Predicate> p = Predicate::Parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().message();
  if (!p.ok()) return false;
  return p->Matches(row);
}

struct Case {
  const char* text;
  bool anna, luc, blank;
};

TEST(Predicate, IssueExamplesWorkAsWritten) {
  EXPECT_TRUE(Eval("gender = 'female' and age >= 30", Anna()));
  EXPECT_FALSE(Eval("gender = 'female' and age >= 30", Luc()));
  Row young = Anna();
  young.age = 29;
  EXPECT_FALSE(Eval("gender = 'female' and age >= 30", young));

  EXPECT_TRUE(Eval("country in ('Germany', 'France')", Anna()));
  EXPECT_TRUE(Eval("country in ('Germany', 'France')", Luc()));
  Row other = Anna();
  other.country = "Spain";
  EXPECT_FALSE(Eval("country in ('Germany', 'France')", other));
  other.country = "germany";  // Text compares byte-wise: case matters.
  EXPECT_FALSE(Eval("country in ('Germany', 'France')", other));
}

TEST(Predicate, TableOfExpressions) {
  const Case cases[] = {
      // Comparisons, text and numbers.
      {"gender = 'female'", true, false, false},
      {"gender != 'female'", false, true, true},
      {"gender <> 'female'", false, true, true},
      {"age > 30", true, false, false},
      {"age >= 37", true, false, false},
      {"age < 37", false, true, true},
      {"age <= 29", false, true, true},
      {"age = 37.0", true, false, false},
      {"30 < age", true, false, false},
      {"latitude < 0", false, true, false},
      {"latitude > -45.8 and latitude < -45.7", false, true, false},
      {"longitude = 13.405", true, false, false},
      {"ingested_at >= 1796400060000", false, true, false},
      {"ingested_at = 1796400000000", true, false, false},
      {"age_band = 30", true, false, false},
      {"age_band = 20", false, true, false},
      {"age_band = 0", false, false, true},  // Negative ages fall in band 0.
      {"age = -3", false, false, true},
      {"country > 'France'", true, false, false},
      {"country >= 'France'", true, true, false},
      {"'Lyon' = city", false, true, false},
      {"dob < registered_date", true, false, false},
      {"registered_date < dob", false, true, false},
      {"first_name = last_name", false, false, true},
      {"last_name = 'O''Brien'", true, false, false},
      {"'a' = 'a'", true, true, true},
      {"1 < 2", true, true, true},
      {"id = '0b6a3f2e-1111-4c3b-9a57-0123456789ab'", true, true, false},
      // in / not in.
      {"nat in ('DE')", true, false, false},
      {"nat not in ('DE', 'XX')", false, true, true},
      {"age in (29, 37)", true, true, false},
      {"age not in (29, 37)", false, false, true},
      {"age in (-3)", false, false, true},
      {"latitude in (52.52, 1)", true, false, false},
      // between (inclusive) / not between.
      {"age between 29 and 36", false, true, false},
      {"age between 37 and 37", true, false, false},
      {"age not between 30 and 40", false, true, true},
      {"country between 'E' and 'G'", false, true, false},
      {"length(username) between 3 and 30", true, false, false},
      // like.
      {"email like '%@example.com'", true, false, false},
      {"email like 'anna%'", true, false, false},
      {"email like '%obrien%'", true, false, false},
      {"email like 'anna.obrien@example.com'", true, false, false},
      {"email like 'anna_obrien@%'", true, false, false},
      {"email like '%@%.%'", true, true, false},
      {"email like '%'", true, true, true},
      {"email like ''", false, false, true},
      {"email not like '%.com'", false, true, true},
      {"city like 'L_on'", false, true, false},
      {"city like 'l%'", false, false, false},  // Case-sensitive.
      {"lower(email) like '%@example.fr'", false, true, false},
      {"upper(city) like 'BER%'", true, false, false},
      // matches (POSIX extended, unanchored unless anchored).
      {"email matches '^[^@]+@[^@]+\\.[a-z]+$'", true, false, false},
      {"email matches 'EXAMPLE'", false, true, false},
      {"lower(email) matches '^[a-z.]+@example\\.(com|fr)$'", true, true, false},
      {"post_code matches '^[0-9]{5}$'", true, true, false},
      {"timezone matches '^[+-][0-9]{1,2}:[0-9]{2}$'", true, true, false},
      {"email not matches '@'", false, false, true},
      // is [not] empty.
      {"email is empty", false, false, true},
      {"email is not empty", true, true, false},
      // Functions.
      {"length(username) = 10", true, false, false},
      {"length(username) < 3", false, true, true},
      {"length('héllo') = 5", true, true, true},  // Characters, not bytes.
      {"length(lower(first_name)) = 4", true, false, false},
      {"lower(gender) = 'female'", true, false, false},
      {"upper(nat) = 'DE'", true, false, false},
      {"lower(email) = 'luc@example.fr'", false, true, false},
      {"upper(email) = email", false, true, true},
      {"lower('ABC') = 'abc'", true, true, true},
      {"lower(upper(city)) = 'lyon'", false, true, false},
      {"lower(country) in ('germany', 'spain')", true, false, false},
      {"lower(country) > 'g'", true, false, false},
      {"upper(country) < 'GERMANY'", false, true, true},
      // Keywords and columns in any case, any spacing.
      {"GENDER = 'female' AND Age>=30", true, false, false},
      {"gender='male'or(age<0)", false, true, true},
      {"\tnot\n(age > 30)", false, true, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Eval(c.text, Anna()), c.anna) << c.text << " on Anna";
    EXPECT_EQ(Eval(c.text, Luc()), c.luc) << c.text << " on Luc";
    EXPECT_EQ(Eval(c.text, Blank()), c.blank) << c.text << " on Blank";
  }
}

TEST(Predicate, SqlPrecedence) {
  // and binds tighter than or; not tighter than and.
  Row r = Anna();  // gender female, age 37, country Germany.
  EXPECT_TRUE(Eval("gender = 'male' and age > 50 or country = 'Germany'", r));
  EXPECT_FALSE(Eval("gender = 'male' and (age > 50 or country = 'Germany')", r));
  EXPECT_TRUE(Eval("country = 'Germany' or gender = 'male' and age > 50", r));
  EXPECT_FALSE(Eval("(country = 'Germany' or gender = 'male') and age > 50", r));
  EXPECT_FALSE(Eval("not gender = 'female' or age > 50", r));
  EXPECT_TRUE(Eval("not (gender = 'female' and age > 50)", r));
  EXPECT_FALSE(Eval("not gender = 'female' and age > 30", r));  // (not g) and a.
  EXPECT_TRUE(Eval("not not gender = 'female'", r));
  EXPECT_TRUE(Eval("age between 30 and 40 and gender = 'female'", r));
  EXPECT_FALSE(Eval("age between 30 and 40 and gender = 'male'", r));
  EXPECT_TRUE(Eval("age not between 40 and 50 and not age in (1, 2)", r));
  EXPECT_TRUE(Eval("((((age = 37))))", r));
}

TEST(Predicate, ColumnsAndText) {
  Result<Predicate> p = Predicate::Parse(
      "Gender = 'female' and (age > 3 or gender is empty) and age_band = 30 "
      "and length(email) > 1");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->columns(), (std::vector<std::string>{"gender", "age", "age_band", "email"}));
  EXPECT_EQ(p->text(),
            "Gender = 'female' and (age > 3 or gender is empty) and age_band = 30 "
            "and length(email) > 1");
}

// The subject of `matches` is a view, not a C string: the regex must see only its bytes.
TEST(Predicate, MatchesSeesOnlyTheView) {
  const std::string backing = "abcXYZ";
  Row row;
  row.city = std::string_view(backing).substr(0, 3);
  EXPECT_TRUE(Eval("city matches '^abc$'", row));
  EXPECT_FALSE(Eval("city matches 'X'", row));
  const std::string with_nul("ab\0cd", 5);
  row.city = with_nul;
  EXPECT_TRUE(Eval("city matches 'cd$'", row));
}

TEST(Predicate, CopiesShareTheTreeAndWorkOnThreads) {
  Result<Predicate> p = Predicate::Parse("email matches '^[a-z.]+@' and lower(city) like 'b%'");
  ASSERT_TRUE(p.ok()) << p.status().message();
  const Predicate copy = *p;
  std::vector<std::jthread> threads;
  std::vector<int> hits(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const Row anna = Anna(), luc = Luc();
      for (int i = 0; i < 2000; ++i) hits[t] += copy.Matches(anna) + 2 * copy.Matches(luc);
    });
  }
  threads.clear();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(hits[t], 2000) << "thread " << t;
}

TEST(Predicate, MatchesAllocatesNothingPerRow) {
  const char* texts[] = {
      "gender = 'female' and age >= 30",
      "country in ('Germany', 'France') or nat not in ('DE', 'FR')",
      "lower(email) like '%@example.%' and upper(city) > 'B' and city not like '_yo%n'",
      "length(username) between 3 and 30 and dob < registered_date and email is not empty",
      "age_band in (20, 30) and latitude between -90 and 90 and ingested_at > 0",
      "email matches '^[^@]+@[^@]+$' and lower(email) matches 'example\\.(com|fr)$'",
  };
  const Row anna = Anna(), luc = Luc(), blank = Blank();
  for (const char* text : texts) {
    Result<Predicate> p = Predicate::Parse(text);
    ASSERT_TRUE(p.ok()) << text << ": " << p.status().message();
    int hits = p->Matches(anna) + p->Matches(luc) + p->Matches(blank);  // Warm up.
    const uint64_t before = g_allocations.load();
    for (int i = 0; i < 1000; ++i) hits += p->Matches(anna) + p->Matches(luc) + p->Matches(blank);
    EXPECT_EQ(g_allocations.load() - before, 0u) << text;
    EXPECT_GT(hits, 0) << text;
  }
}

struct ErrorCase {
  const char* text;
  const char* message;  // The whole expected message, or a part of it.
};

TEST(Predicate, ErrorsSayWhereAndWhat) {
  const ErrorCase cases[] = {
      {"contry = 'France'",
       "--where: at 1 ('contry'): unknown column 'contry' (did you mean 'country'?)"},
      {"gender = 'x' and contry = 'France'",
       "--where: at 18 ('contry'): unknown column 'contry' (did you mean 'country'?)"},
      {"salary > 3", "--where: at 1 ('salary'): unknown column 'salary' (columns:"},
      {"gender >= 30",
       "--where: at 1 ('gender >= 30'): text column 'gender' compared with a "
       "number: quote the number"},
      {"age = '30'", "--where: at 1 ('age = '30''): numeric column 'age' compared with text"},
      {"country in ('France', 3)", "at 23 ('3'): text column 'country' compared with a number"},
      {"age in (1, 'two')", "at 12 (''two''): numeric column 'age' compared with text"},
      {"age between 'a' and 3", "at 1 ('age between 'a''): numeric column 'age'"},
      {"age like '3%'", "at 1 ('age like '3%''): like applies to text"},
      {"age matches '3'", "at 1 ('age matches '3''): matches applies to text"},
      {"age is empty", "at 1 ('age is empty'): is empty applies to text"},
      {"lower(age) = 'x'", "at 7 ('age'): lower() takes text, and 'age' is a number"},
      {"length(length(city)) = 1", "at 8 ('length(city)'): length() takes text"},
      {"gender = 'female", "at 10 (''female'): unterminated text literal"},
      {"gender = 'it''s", "at 10 (''it''s'): unterminated text literal"},
      {"gender = 'female' age > 3", "at 19 ('age'): unexpected text after the condition"},
      {"gender = 'female')", "at 18 (')'): unexpected text after the condition"},
      {"(gender = 'female'", "--where: at 19 (end): expected ')' to close the '(' at 1"},
      {"", "--where: at 1 (end): empty"},
      {"   ", "--where: at 4 (end): empty"},
      {"gender =", "at 9 (end): expected a column, a 'text', a number or a function"},
      {"gender", "at 7 (end): expected an operator"},
      {"gender not = 'x'", "at 12 ('='): expected in, between, like or matches after not"},
      {"gender is 'x'", "at 11 (''x''): expected 'empty'"},
      {"gender = \"female\"", "at 10 ('\"female\"'): text literals take single quotes"},
      {"gender == 'female'", "at 8 ('=='): '==' is not an operator: write ="},
      {"age ! 3", "at 5 ('!'): unexpected '!'"},
      {"age > 3 # comment", "at 9 ('#'): unexpected character"},
      {"city = Zürich", "at 9 ('ü'): unexpected character"},
      {"city = Berlin",
       "at 8 ('Berlin'): unknown column 'berlin' (columns: those of "
       "created_users and age_band; a text goes in single quotes: 'Berlin')"},
      {"city ≠ 'x'", "at 6 ('≠'): unexpected character"},
      {"ingested_at >= '2026-12-06'", "ingested_at is epoch milliseconds"},
      {"age > 1.2.3", "at 7 ('1.2.3'): malformed number"},
      {"age > 12abc", "at 7 ('12abc'): malformed number"},
      {"age > 5.", "at 7 ('5.'): malformed number"},
      {"age > -age", "at 7 ('-'): only number literals can be negative"},
      {"email matches '('", "at 15 (''(''): bad regular expression: "},
      {"email matches '[a-'", "bad regular expression: "},
      {"email matches '(a)\\1'", "back-references (\\1) are not supported"},
      {"email matches '((a{100}){100}){100}'", "repetitions expand to more than 10000"},
      {"email matches 'a{1000}'", "repetition counts above 255"},
      {"email matches 'a{,300}'", "repetition counts above 255"},
      {"email matches 'a{,\\022220}'", "repetition counts above 255"},
      {"email matches 'a{\\3\\0\\0\\,}'", "repetition counts above 255"},
      {"email matches 'a{2,99999999999999999999999}'", "repetition counts above 255"},
      {"email matches 'a+*'", "at 15 (''a+*''): a repetition (*, +, ?, {n}) cannot follow another"},
      {"email matches '^.*?@'", "POSIX has no lazy a+?"},
      {"email matches '(((((((((((((((a+)*)+)*)+)*)+)*)+)*)+)*)+)*)+)*'",
       "repetitions expand to more than 10000"},
      {"email like 3", "at 12 ('3'): expected a 'pattern' after like"},
      {"country in 'France'", "at 12 (''France''): expected '(' and a list after in"},
      {"country in ()", "at 13 (')'): expected a 'text' or a number in the list"},
      {"country in ('a' 'b')", "at 17 (''b''): expected ',' or ')' in the list"},
      {"age between 1 or 3", "at 15 ('or'): expected and: between LOW and HIGH"},
      {"and = 3", "at 1 ('and'): expected a column, a 'text', a number or a function, found 'and'"},
      {"lower = 'x'", "unknown column 'lower' (a function: write lower(column))"},
      {"trim(city) = 'x'", "at 1 ('trim'): unknown function 'trim' (length, lower, upper)"},
      {"lower(city = 'x'", "at 12 ('='): expected ')' to close lower( at 6"},
      {"lower(country) = 'Germany'",
       "at 18 (''Germany''): lower(...) never equals a text with "
       "upper-case letters: write it in lower case"},
      {"upper(nat) in ('DE', 'fr')", "at 22 (''fr''): upper(...) never equals"},
      {"lower(email) like '%@Example.com'", "lower(...) never equals"},
  };
  for (const ErrorCase& c : cases) {
    Result<Predicate> p = Predicate::Parse(c.text);
    ASSERT_FALSE(p.ok()) << "parsed: " << c.text;
    EXPECT_NE(p.status().message().find(c.message), std::string::npos)
        << c.text << "\n  got: " << p.status().message() << "\n  want: " << c.message;
  }
}

TEST(Predicate, ErrorsStartWithWhatWasParsed) {
  Result<Predicate> p = Predicate::Parse("emial is empty", "rule valid_email");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "rule valid_email: at 1 ('emial'): unknown column 'emial' (did you mean 'email'?)");
}

TEST(Predicate, LimitsKeepHostileInputCheap) {
  // Nesting: 64 levels parse, 65 do not (the parser and Matches recurse once per level).
  auto nested = [](int levels, const char* open, const char* close) {
    std::string text;
    for (int i = 0; i < levels; ++i) text += open;
    text += "age > 3";
    for (int i = 0; i < levels; ++i) text += close;
    return text;
  };
  EXPECT_TRUE(Predicate::Parse(nested(64, "(", ")")).ok());
  Result<Predicate> deep = Predicate::Parse(nested(65, "(", ")"));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("at 65 ('('): nested more than 64 levels deep"),
            std::string::npos)
      << deep.status().message();
  EXPECT_TRUE(Eval(nested(64, "not ", ""), Anna()));  // An even number of nots.
  EXPECT_FALSE(Predicate::Parse(nested(65, "not ", "")).ok());
  std::string functions = "city";
  for (int i = 0; i < 65; ++i) functions = "lower(" + functions + ")";
  EXPECT_FALSE(Predicate::Parse(functions + " = 'x'").ok());
  EXPECT_FALSE(Predicate::Parse(nested(100000, "(", ")")).ok());

  // Length: 4096 bytes parse, 4097 do not.
  std::string text = "city = '" + std::string(4096 - 9, 'x') + "'";
  ASSERT_EQ(text.size(), 4096u);
  EXPECT_TRUE(Predicate::Parse(text).ok());
  Result<Predicate> longer = Predicate::Parse(text + " ");
  ASSERT_FALSE(longer.ok());
  EXPECT_NE(longer.status().message().find("at 4097 (' '): longer than 4096 bytes"),
            std::string::npos)
      << longer.status().message();

  // A long chain of and/or is flat, not deep.
  std::string chain = "age > 0";
  for (int i = 0; i < 150; ++i) chain += " and age > 0 or age < 0";
  EXPECT_TRUE(Eval(chain, Anna()));

  // Numbers that do not fit.
  Result<Predicate> huge = Predicate::Parse("age > 1" + std::string(400, '0'));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("number out of range"), std::string::npos)
      << huge.status().message();
}

TEST(Predicate, MessagesHoldNoControlBytes) {
  Result<Predicate> p = Predicate::Parse(std::string("city = 'a\n\x01b"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message().find('\n'), std::string::npos) << p.status().message();
  EXPECT_EQ(p.status().message().find('\x01'), std::string::npos) << p.status().message();
}

}  // namespace
}  // namespace spate
