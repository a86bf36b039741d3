//! The subset of SOQL and SOSL the fake Salesforce understands: enough for ctibridge's own
//! queries, with the documented errors for anything else.
//!
//! SOQL: `SELECT f, … FROM Type [WHERE f = 'v' | f = 1 | f IN ('a', 'b') [AND|OR …]] [LIMIT n]`
//! (AND binds tighter than OR; no parentheses).
//! SOSL: `FIND {term} IN PHONE FIELDS RETURNING Type(f, …), …`.

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub values: Vec<Literal>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Soql {
    pub fields: Vec<String>,
    pub sobject: String,
    /// OR of ANDs.
    pub filter: Vec<Vec<Condition>>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sosl {
    pub term: String,
    pub returning: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Comma,
    LParen,
    RParen,
    Eq,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            ',' => {
                tokens.push(Token::Comma);
                i += 1
            }
            '(' => {
                tokens.push(Token::LParen);
                i += 1
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1
            }
            '=' => {
                tokens.push(Token::Eq);
                i += 1
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => {
                            text.push(*chars.get(i + 1).ok_or("unterminated escape")?);
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            text.push(c);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                tokens.push(Token::Number(
                    text.parse().map_err(|_| format!("bad number {text}"))?,
                ));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(tokens)
}

fn keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

pub fn parse_soql(input: &str) -> Result<Soql, String> {
    let tokens = tokenize(input)?;
    let mut pos = 0;
    if !keyword(tokens.first(), "SELECT") {
        return Err("expected SELECT".into());
    }
    pos += 1;
    let mut fields = Vec::new();
    loop {
        match tokens.get(pos) {
            Some(Token::Word(w)) => fields.push(w.clone()),
            _ => return Err("expected a field name".into()),
        }
        pos += 1;
        if tokens.get(pos) == Some(&Token::Comma) {
            pos += 1;
        } else {
            break;
        }
    }
    if !keyword(tokens.get(pos), "FROM") {
        return Err("expected FROM".into());
    }
    pos += 1;
    let sobject = match tokens.get(pos) {
        Some(Token::Word(w)) => w.clone(),
        _ => return Err("expected an sObject name after FROM".into()),
    };
    pos += 1;
    let mut filter = Vec::new();
    if keyword(tokens.get(pos), "WHERE") {
        pos += 1;
        let mut conjunction = Vec::new();
        loop {
            let field = match tokens.get(pos) {
                Some(Token::Word(w)) => w.clone(),
                _ => return Err("expected a field in WHERE".into()),
            };
            pos += 1;
            let values = if tokens.get(pos) == Some(&Token::Eq) {
                pos += 1;
                let value = literal(tokens.get(pos))?;
                pos += 1;
                vec![value]
            } else if keyword(tokens.get(pos), "IN") {
                pos += 1;
                if tokens.get(pos) != Some(&Token::LParen) {
                    return Err("expected ( after IN".into());
                }
                pos += 1;
                let mut values = Vec::new();
                loop {
                    values.push(literal(tokens.get(pos))?);
                    pos += 1;
                    match tokens.get(pos) {
                        Some(Token::Comma) => pos += 1,
                        Some(Token::RParen) => {
                            pos += 1;
                            break;
                        }
                        _ => return Err("expected , or ) in IN list".into()),
                    }
                }
                values
            } else {
                return Err("expected = or IN".into());
            };
            conjunction.push(Condition { field, values });
            if keyword(tokens.get(pos), "AND") {
                pos += 1;
            } else if keyword(tokens.get(pos), "OR") {
                pos += 1;
                filter.push(std::mem::take(&mut conjunction));
            } else {
                break;
            }
        }
        filter.push(conjunction);
    }
    let mut limit = None;
    if keyword(tokens.get(pos), "LIMIT") {
        pos += 1;
        match tokens.get(pos) {
            Some(Token::Number(n)) if *n >= 0.0 => limit = Some(*n as usize),
            _ => return Err("expected a number after LIMIT".into()),
        }
        pos += 1;
    }
    if pos != tokens.len() {
        return Err(format!("unexpected token {:?}", tokens[pos]));
    }
    Ok(Soql {
        fields,
        sobject,
        filter,
        limit,
    })
}

fn literal(token: Option<&Token>) -> Result<Literal, String> {
    match token {
        Some(Token::Text(t)) => Ok(Literal::Text(t.clone())),
        Some(Token::Number(n)) => Ok(Literal::Number(*n)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
        _ => Err("expected a literal".into()),
    }
}

pub fn parse_sosl(input: &str) -> Result<Sosl, String> {
    let rest = input.trim();
    let rest = rest
        .strip_prefix("FIND")
        .or_else(|| rest.strip_prefix("find"))
        .ok_or("expected FIND")?
        .trim_start();
    let rest = rest.strip_prefix('{').ok_or("expected {term} after FIND")?;
    let (term, rest) = rest.split_once('}').ok_or("unterminated {term}")?;
    let rest = rest.trim_start();
    let upper = rest.to_ascii_uppercase();
    let after_scope = if upper.starts_with("IN PHONE FIELDS") {
        &rest["IN PHONE FIELDS".len()..]
    } else if upper.starts_with("IN ALL FIELDS") {
        &rest["IN ALL FIELDS".len()..]
    } else {
        return Err("expected IN PHONE FIELDS or IN ALL FIELDS".into());
    };
    let after_scope = after_scope.trim_start();
    if !after_scope.to_ascii_uppercase().starts_with("RETURNING") {
        return Err("expected RETURNING".into());
    }
    let list = &after_scope["RETURNING".len()..];
    let tokens = tokenize(list)?;
    let mut returning = Vec::new();
    let mut pos = 0;
    while pos < tokens.len() {
        let sobject = match tokens.get(pos) {
            Some(Token::Word(w)) => w.clone(),
            _ => return Err("expected an sObject in RETURNING".into()),
        };
        pos += 1;
        let mut fields = Vec::new();
        if tokens.get(pos) == Some(&Token::LParen) {
            pos += 1;
            loop {
                match tokens.get(pos) {
                    Some(Token::Word(w)) => fields.push(w.clone()),
                    _ => return Err("expected a field".into()),
                }
                pos += 1;
                match tokens.get(pos) {
                    Some(Token::Comma) => pos += 1,
                    Some(Token::RParen) => {
                        pos += 1;
                        break;
                    }
                    _ => return Err("expected , or )".into()),
                }
            }
        } else {
            fields.push("Id".into());
        }
        returning.push((sobject, fields));
        if tokens.get(pos) == Some(&Token::Comma) {
            pos += 1;
        }
    }
    if returning.is_empty() {
        return Err("RETURNING names no sObject".into());
    }
    Ok(Sosl {
        term: term.to_owned(),
        returning,
    })
}
