#include "engine/transform/expr.hpp"

#include <cctype>
#include <charconv>

#include "engine/format/decimal.hpp"
#include "engine/format/value_codec.hpp"

namespace backfill {

struct Expr::Node {
  enum class Kind { kLiteral, kColumn, kCall } kind = Kind::kLiteral;
  Value literal;
  int slot = -1;
  int call = -1;  // kCall: its index in EvalScratch::args
  bool strict = true;
  // kCall: the arguments passed to a text parameter, which a character(n) reaches as the
  // cast to text gives it (its trailing spaces dropped), as in PostgreSQL.
  std::vector<bool> text_params;
  // kCall: the arguments passed to a timestamp parameter, which a date reaches as its first
  // instant (date::timestamp), so that a function sees microseconds, never days.
  std::vector<bool> timestamp_params;
  FunctionImpl impl;
  std::vector<Node> args;
  ValueType type = ValueType::kNull;
  std::size_t pos = 0;  // 1-based, in the user's text
  std::string name;     // the function's, for messages
};

namespace {

enum class Tok { kIdent, kQuotedIdent, kString, kNumber, kLParen, kRParen, kComma, kEnd };

struct Token {
  Tok kind;
  std::string text;
  std::size_t pos;  // 1-based
};

class Parser {
 public:
  Parser(std::string_view s, std::size_t offset, const FunctionRegistry& f, const ColumnTypeOf& ct,
         ExprInputs* in)
      : s_(s), offset_(offset), functions_(f), column_type_(ct), inputs_(in) {}

  Result<Expr::Node> parse() {
    BACKFILL_RETURN_IF_ERROR(advance());
    BACKFILL_ASSIGN_OR_RETURN(Expr::Node n, expression());
    if (tok_.kind != Tok::kEnd)
      return error(tok_.pos, "unexpected " + describe(tok_) + " after the expression");
    return n;
  }

 private:
  Status error(std::size_t pos, const std::string& msg) const {
    return Status::invalid("at position " + std::to_string(pos) + ": " + msg);
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd:
        return "end of the expression";
      case Tok::kLParen:
        return "'('";
      case Tok::kRParen:
        return "')'";
      case Tok::kComma:
        return "','";
      case Tok::kString:
        return "string '" + t.text + "'";
      default:
        return "'" + t.text + "'";
    }
  }

  Status advance() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    const std::size_t pos = offset_ + i_ + 1;
    if (i_ >= s_.size()) {
      tok_ = {Tok::kEnd, "", pos};
      return Status::ok();
    }
    const char c = s_[i_];
    if (c == '(' || c == ')' || c == ',') {
      tok_ = {c == '('   ? Tok::kLParen
              : c == ')' ? Tok::kRParen
                         : Tok::kComma,
              std::string(1, c), pos};
      ++i_;
      return Status::ok();
    }
    if (c == '\'' || c == '"') {
      std::string text;
      ++i_;
      while (true) {
        if (i_ >= s_.size()) {
          return error(pos,
                       c == '\'' ? "string literal is not closed" : "quoted name is not closed");
        }
        if (s_[i_] == c) {
          if (i_ + 1 < s_.size() && s_[i_ + 1] == c) {
            text.push_back(c);
            i_ += 2;
            continue;
          }
          ++i_;
          break;
        }
        text.push_back(s_[i_++]);
      }
      tok_ = {c == '\'' ? Tok::kString : Tok::kQuotedIdent, std::move(text), pos};
      return Status::ok();
    }
    const bool sign = (c == '-' || c == '+') && i_ + 1 < s_.size() &&
                      (std::isdigit(static_cast<unsigned char>(s_[i_ + 1])) || s_[i_ + 1] == '.');
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.' || sign) {
      std::size_t start = i_;
      if (sign) ++i_;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.'))
        ++i_;
      if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
        ++i_;
        if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      }
      tok_ = {Tok::kNumber, std::string(s_.substr(start, i_ - start)), pos};
      return Status::ok();
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        static_cast<unsigned char>(c) >= 0x80) {
      std::size_t start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' ||
                                s_[i_] == '$' || static_cast<unsigned char>(s_[i_]) >= 0x80)) {
        ++i_;
      }
      std::string text(s_.substr(start, i_ - start));
      for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      tok_ = {Tok::kIdent, std::move(text), pos};
      return Status::ok();
    }
    return error(pos, std::string("unexpected character '") + c + "'");
  }

  Result<Expr::Node> expression() {
    Token t = tok_;
    Expr::Node n;
    n.pos = t.pos;
    switch (t.kind) {
      case Tok::kString:
        n.literal = Value::text(t.text);
        n.type = ValueType::kText;
        BACKFILL_RETURN_IF_ERROR(advance());
        return n;
      case Tok::kNumber: {
        auto d = canonical_number(t.text);
        if (!d) return error(t.pos, "'" + t.text + "' is not a number");
        n.literal = std::move(*d);
        n.type = n.literal.type;
        BACKFILL_RETURN_IF_ERROR(advance());
        return n;
      }
      case Tok::kQuotedIdent:
        BACKFILL_RETURN_IF_ERROR(advance());
        return column(t);
      case Tok::kIdent:
        BACKFILL_RETURN_IF_ERROR(advance());
        if (tok_.kind == Tok::kLParen) return call(t);
        if (t.text == "null") return n;
        if (t.text == "true" || t.text == "false") {
          n.literal = Value::boolean(t.text == "true");
          n.type = ValueType::kBool;
          return n;
        }
        return column(t);
      default:
        return error(t.pos,
                     "expected a column, a literal or a function call, found " + describe(t));
    }
  }

  static std::optional<Value> canonical_number(const std::string& text) {
    bool integral = text.find_first_of(".eE") == std::string::npos;
    if (integral) {
      std::int64_t v = 0;
      const char* end = text.data() + text.size();
      auto r = std::from_chars(text.data(), end, v);
      // Out of range for an integer: numeric below.
      if (r.ec == std::errc() && r.ptr == end) return Value::integer(v);
    }
    auto d = canonical_decimal(text);
    if (!d) return std::nullopt;
    return Value::numeric(std::move(*d));
  }

  Result<Expr::Node> column(const Token& t) {
    auto type = column_type_(t.text);
    if (!type) {
      return error(t.pos, "no column \"" + t.text + "\"" +
                              (inputs_->table.empty() ? "" : " in " + inputs_->table));
    }
    Expr::Node n;
    n.kind = Expr::Node::Kind::kColumn;
    n.pos = t.pos;
    n.type = *type;
    n.slot = inputs_->slot(t.text);
    return n;
  }

  Result<Expr::Node> call(const Token& name) {
    const FunctionDef* f = functions_.find(name.text);
    if (!f) return error(name.pos, "unknown function " + name.text + "()");
    Expr::Node n;
    n.kind = Expr::Node::Kind::kCall;
    n.pos = name.pos;
    n.name = f->name;
    BACKFILL_RETURN_IF_ERROR(advance());  // past '('
    if (tok_.kind != Tok::kRParen) {
      while (true) {
        BACKFILL_ASSIGN_OR_RETURN(Expr::Node arg, expression());
        n.args.push_back(std::move(arg));
        if (tok_.kind == Tok::kComma) {
          BACKFILL_RETURN_IF_ERROR(advance());
          continue;
        }
        if (tok_.kind == Tok::kRParen) break;
        return error(tok_.pos, "expected ',' or ')' in the arguments of " + f->name + "(), found " +
                                   describe(tok_));
      }
    }
    BACKFILL_RETURN_IF_ERROR(advance());  // past ')'
    BACKFILL_RETURN_IF_ERROR(check_call(*f, &n));
    return n;
  }

  Status check_call(const FunctionDef& f, Expr::Node* n) {
    const std::size_t count = n->args.size();
    const std::size_t max = f.params.size();
    const auto min = static_cast<std::size_t>(f.min_args);
    if (count < min || (!f.variadic && count > max)) {
      std::string want = f.variadic   ? "at least " + std::to_string(min)
                         : min == max ? std::to_string(min)
                                      : std::to_string(min) + " to " + std::to_string(max);
      return error(n->pos, f.name + "() takes " + want + " argument" + (want == "1" ? "" : "s") +
                               ", not " + std::to_string(count));
    }
    std::optional<ValueType> common = ValueType::kNull;
    for (std::size_t i = 0; i < count; ++i) {
      const ValueType want = i < max ? f.params[i] : f.params.back();
      const ValueType got = n->args[i].type;
      const bool fits =
          got == ValueType::kNull || want == ValueType::kAny || want == got ||
          (got == ValueType::kInt && (want == ValueType::kNumeric || want == ValueType::kFloat));
      if (!fits) {
        return error(n->args[i].pos,
                     f.name + "() argument " + std::to_string(i + 1) + " must be " +
                         value_type_name(want) + ", not " + value_type_name(got) +
                         (want == ValueType::kText ? " (convert it with to_text())" : ""));
      }
      if (common) common = common_type(*common, got);
    }
    for (int li : f.literal_params) {
      auto idx = static_cast<std::size_t>(li);
      if (idx < count && n->args[idx].kind != Expr::Node::Kind::kLiteral) {
        return error(n->args[idx].pos,
                     f.name + "() argument " + std::to_string(idx + 1) + " must be a literal");
      }
    }
    if (f.result == ValueType::kAny) {
      if (!common) {
        std::string types;
        for (const auto& a : n->args)
          types += std::string(types.empty() ? "" : ", ") + value_type_name(a.type);
        return error(n->pos, f.name + "() arguments must share one type, not " + types);
      }
      n->type = *common;
    } else {
      n->type = f.result;
    }
    n->strict = f.strict;
    n->impl = f.impl;
    n->text_params.assign(count, false);
    n->timestamp_params.assign(count, false);
    for (std::size_t i = 0; i < count; ++i) {
      const ValueType want = i < max ? f.params[i] : f.params.back();
      n->text_params[i] = want == ValueType::kText;
      n->timestamp_params[i] = want == ValueType::kTimestamp;
    }
    if (f.bind) {
      std::vector<Value> literals(count);
      for (std::size_t i = 0; i < count; ++i) {
        if (n->args[i].kind == Expr::Node::Kind::kLiteral) literals[i] = n->args[i].literal;
      }
      auto bound = f.bind(literals);
      if (!bound.ok()) return error(n->pos, bound.status().message());
      n->impl = std::move(bound).value();
    }
    return Status::ok();
  }

  std::string_view s_;
  std::size_t offset_;
  std::size_t i_ = 0;
  Token tok_{Tok::kEnd, "", 0};
  const FunctionRegistry& functions_;
  const ColumnTypeOf& column_type_;
  ExprInputs* inputs_;
};

Status eval_node(const Expr::Node& n, std::span<const Value> inputs, const CallContext& ctx,
                 EvalScratch* scratch, Value* out) {
  switch (n.kind) {
    case Expr::Node::Kind::kLiteral:
      *out = n.literal;
      return Status::ok();
    case Expr::Node::Kind::kColumn:
      *out = inputs[static_cast<std::size_t>(n.slot)];  // copy-assigned: keeps out's capacity
      return Status::ok();
    case Expr::Node::Kind::kCall:
      break;
  }
  std::vector<Value>& args = scratch->args[static_cast<std::size_t>(n.call)];
  for (std::size_t i = 0; i < n.args.size(); ++i) {
    BACKFILL_RETURN_IF_ERROR(eval_node(n.args[i], inputs, ctx, scratch, &args[i]));
    if (n.strict && args[i].is_null()) {
      out->type = ValueType::kNull;
      out->form = ValueForm::kDefault;
      return Status::ok();
    }
    if (n.text_params[i] && args[i].form == ValueForm::kPaddedChar) {
      args[i].s.resize(trim_padding(args[i].s).size());
      args[i].form = ValueForm::kDefault;
    }
    if (n.timestamp_params[i] && args[i].form == ValueForm::kDate) {
      BACKFILL_ASSIGN_OR_RETURN(args[i].i, timestamp_micros(args[i]));
      args[i].form = ValueForm::kDefault;
    }
  }
  out->form = ValueForm::kDefault;  // a new value; one returning an argument takes its form
  return n.impl(args, ctx, out);
}

// Numbers the call sites and sizes their argument lists.
void number_calls(Expr::Node* n, int* next) {
  if (n->kind != Expr::Node::Kind::kCall) return;
  n->call = (*next)++;
  for (auto& a : n->args) number_calls(&a, next);
}

void size_scratch(const Expr::Node& n, EvalScratch* scratch) {
  if (n.kind != Expr::Node::Kind::kCall) return;
  scratch->args[static_cast<std::size_t>(n.call)].resize(n.args.size());
  for (const auto& a : n.args) size_scratch(a, scratch);
}

}  // namespace

int ExprInputs::slot(const std::string& column) {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == column) return static_cast<int>(i);
  }
  columns.push_back(column);
  return static_cast<int>(columns.size() - 1);
}

std::optional<ValueType> common_type(ValueType a, ValueType b) {
  if (a == ValueType::kNull) return b;
  if (b == ValueType::kNull || a == b) return a;
  auto numeric = [](ValueType t) {
    return t == ValueType::kInt || t == ValueType::kNumeric || t == ValueType::kFloat;
  };
  if (numeric(a) && numeric(b)) {
    if (a == ValueType::kFloat || b == ValueType::kFloat) return ValueType::kFloat;
    return ValueType::kNumeric;
  }
  return std::nullopt;
}

Expr::~Expr() = default;

Result<std::shared_ptr<const Expr>> Expr::compile(std::string_view text, std::size_t offset,
                                                  const FunctionRegistry& functions,
                                                  const ColumnTypeOf& column_type,
                                                  ExprInputs* inputs) {
  Parser p(text, offset, functions, column_type, inputs);
  BACKFILL_ASSIGN_OR_RETURN(Node root, p.parse());
  std::shared_ptr<Expr> e(new Expr());
  e->root_ = std::make_unique<Node>(std::move(root));
  e->text_ = std::string(text);
  number_calls(e->root_.get(), &e->calls_);
  return std::shared_ptr<const Expr>(std::move(e));
}

ValueType Expr::type() const { return root_->type; }

Status Expr::eval(std::span<const Value> inputs, const CallContext& ctx, EvalScratch* scratch,
                  Value* out) const {
  if (scratch->args.size() != static_cast<std::size_t>(calls_)) {
    scratch->args.assign(static_cast<std::size_t>(calls_), {});
    size_scratch(*root_, scratch);
  }
  return eval_node(*root_, inputs, ctx, scratch, out);
}

Status Expr::eval(std::span<const Value> inputs, const CallContext& ctx, Value* out) const {
  EvalScratch scratch;
  return eval(inputs, ctx, &scratch, out);
}

}  // namespace backfill
