#include "sim/container_program.h"

#include <cstdlib>

#include "absl/strings/str_join.h"

namespace kobs::sim {
namespace {

struct Word {
  std::string text;
  bool op = false;  // ";" "&&" or newline
};

// Splits a script into words and statement separators, with sh's quoting.
absl::StatusOr<std::vector<Word>> Lex(const std::string& s) {
  std::vector<Word> words;
  std::string cur;
  bool have = false;
  auto flush = [&] {
    if (have) words.push_back({cur, false});
    cur.clear();
    have = false;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string::npos) return absl::InvalidArgumentError("unterminated ' quote");
      cur += s.substr(i + 1, end - i - 1);
      have = true;
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size() &&
            (s[j + 1] == '"' || s[j + 1] == '\\' || s[j + 1] == '$')) {
          ++j;
        }
        cur.push_back(s[j]);
      }
      if (j >= s.size()) return absl::InvalidArgumentError("unterminated \" quote");
      have = true;
      i = j;
    } else if (c == '\\' && i + 1 < s.size()) {
      cur.push_back(s[++i]);
      have = true;
    } else if (c == ';' || c == '\n') {
      flush();
      words.push_back({";", true});
    } else if (c == '&' && i + 1 < s.size() && s[i + 1] == '&') {
      flush();
      words.push_back({";", true});
      ++i;
    } else if (c == ' ' || c == '\t') {
      flush();
    } else {
      cur.push_back(c);
      have = true;
    }
  }
  flush();
  return words;
}

// echo -e escapes: \n splits into lines at output time; \t, \\, \e (ANSI colours) kept.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char n = s[++i];
    switch (n) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'e': out.push_back('\x1b'); break;
      case '\\': out.push_back('\\'); break;
      case '0':
        if (s.compare(i, 3, "033") == 0) {
          out.push_back('\x1b');
          i += 2;
        } else {
          out.push_back('\0');
        }
        break;
      default:
        out.push_back('\\');
        out.push_back(n);
    }
  }
  return out;
}

void Output(std::vector<ProgramStep>& steps, const std::string& text) {
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (nl == std::string::npos) {
      if (!line.empty()) steps.push_back({ProgramStep::Kind::kOutput, line});
      return;
    }
    steps.push_back({ProgramStep::Kind::kOutput, line});
    start = nl + 1;
  }
}

}  // namespace

absl::StatusOr<std::vector<ProgramStep>> ParseProgram(const std::vector<std::string>& command,
                                                      const std::vector<std::string>& args) {
  std::vector<std::string> argv = command;
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<ProgramStep> steps;
  if (argv.empty()) {
    steps.push_back({ProgramStep::Kind::kForever});
    return steps;
  }
  std::string script;
  const std::string& prog = argv[0];
  if ((prog == "sh" || prog == "/bin/sh" || prog == "bash" || prog == "/bin/bash") &&
      argv.size() >= 3 && argv[1] == "-c") {
    script = argv[2];
  } else {
    // An exec-form command: quote each word so the lexer reads it back as one.
    std::vector<std::string> quoted;
    for (const std::string& a : argv) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      quoted.push_back(q + "'");
    }
    script = absl::StrJoin(quoted, " ");
  }
  absl::StatusOr<std::vector<Word>> words = Lex(script);
  if (!words.ok()) return words.status();
  std::vector<std::vector<std::string>> statements(1);
  for (const Word& w : *words) {
    if (w.op) {
      statements.emplace_back();
    } else {
      statements.back().push_back(w.text);
    }
  }
  for (const auto& st : statements) {
    if (st.empty()) continue;
    const std::string& cmd = st[0];
    if (cmd == "echo" || cmd == "printf") {
      size_t first = 1;
      bool escapes = cmd == "printf";
      while (first < st.size() && (st[first] == "-n" || st[first] == "-e" || st[first] == "-ne")) {
        escapes |= st[first].find('e') != std::string::npos;
        ++first;
      }
      std::vector<std::string> rest(st.begin() + first, st.end());
      std::string text = absl::StrJoin(rest, " ");
      Output(steps, escapes ? Unescape(text) : text);
    } else if (cmd == "sleep") {
      if (st.size() > 1 && (st[1] == "infinity" || std::atof(st[1].c_str()) >= 1e7)) {
        steps.push_back({ProgramStep::Kind::kForever});
        return steps;
      }
      steps.push_back({ProgramStep::Kind::kSleep, "", st.size() > 1 ? std::atof(st[1].c_str()) : 0});
    } else if (cmd == "exit") {
      steps.push_back({ProgramStep::Kind::kExit, "", 0, st.size() > 1 ? std::atoi(st[1].c_str()) : 0});
      return steps;
    } else if (cmd == "true" || cmd == ":") {
      continue;
    } else if (cmd == "false") {
      steps.push_back({ProgramStep::Kind::kExit, "", 0, 1});
      return steps;
    } else {
      // Any other program is the image's own process (a server, an agent): it runs until
      // it is stopped.
      steps.push_back({ProgramStep::Kind::kForever});
      return steps;
    }
  }
  steps.push_back({ProgramStep::Kind::kExit, "", 0, 0});
  return steps;
}

}  // namespace kobs::sim
