package vm

import (
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

var (
	reUUID    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reZip     = regexp.MustCompile(`^[0-9]{5}(-?[0-9]{3,4})?$|^[A-Za-z0-9]{2,5} ?[A-Za-z0-9]{2,4}$`)
	reHour    = regexp.MustCompile(`^([01]?[0-9]|2[0-3])[:h]([0-5][0-9])$`)
	reMoney   = regexp.MustCompile(`^[^0-9\-]{0,4}\s*(-?[0-9][0-9.,]*)\s*[^0-9]{0,4}$`)
	reMobile  = regexp.MustCompile(`^\+?[0-9][0-9 ()\-.]{6,20}$`)
	boolWords = map[string]bool{
		"yes": true, "y": true, "true": true, "sim": true, "s": true, "si": true, "ok": true, "1": true,
		"no": false, "n": false, "false": false, "não": false, "nao": false, "0": false,
	}
)

// validate checks a HEAR answer and converts it to the value the script sees.
func validate(typ string, options []string, input string) (Value, bool) {
	in := strings.TrimSpace(input)
	if len(options) > 0 {
		for _, o := range options {
			if strings.EqualFold(strings.TrimSpace(o), in) {
				return Str(o), true
			}
		}
		// a menu also accepts the option's number, as chat users often answer "2"
		if n, err := strconv.Atoi(in); err == nil && n >= 1 && n <= len(options) {
			return Str(options[n-1]), true
		}
		return Null, false
	}
	switch typ {
	case "", "STRING":
		return Str(input), true
	case "INTEGER":
		f, err := strconv.ParseFloat(in, 64)
		if err != nil || f != float64(int64(f)) {
			return Null, false
		}
		return Num(f), true
	case "NUMBER":
		f, err := strconv.ParseFloat(strings.Replace(in, ",", ".", 1), 64)
		return Num(f), err == nil
	case "BOOLEAN":
		b, ok := boolWords[strings.ToLower(in)]
		return Bool(b), ok
	case "DATE":
		t, ok := parseDate(in)
		if !ok {
			return Null, false
		}
		return Str(t.Format(dateLayout)), true
	case "EMAIL":
		a, err := mail.ParseAddress(in)
		if err != nil || a.Address != in || !strings.Contains(in[strings.LastIndex(in, "@"):], ".") {
			return Null, false
		}
		return Str(in), true
	case "MOBILE":
		if !reMobile.MatchString(in) {
			return Null, false
		}
		var b strings.Builder
		for i, r := range in {
			if unicode.IsDigit(r) || r == '+' && i == 0 {
				b.WriteRune(r)
			}
		}
		if d := strings.TrimPrefix(b.String(), "+"); len(d) < 8 || len(d) > 15 {
			return Null, false
		}
		return Str(b.String()), true
	case "URL":
		u, err := url.Parse(in)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Null, false
		}
		return Str(in), true
	case "UUID":
		return Str(strings.ToLower(in)), reUUID.MatchString(in)
	case "ZIPCODE":
		return Str(strings.ToUpper(in)), reZip.MatchString(in) && strings.ContainsAny(in, "0123456789")
	case "MONEY":
		mm := reMoney.FindStringSubmatch(in)
		if mm == nil {
			return Null, false
		}
		f, ok := parseMoney(mm[1])
		return Num(f), ok
	case "HOUR":
		mm := reHour.FindStringSubmatch(in)
		if mm == nil {
			return Null, false
		}
		h, _ := strconv.Atoi(mm[1])
		return Str(strconv.Itoa(h/10) + strconv.Itoa(h%10) + ":" + mm[2]), true
	case "NAME":
		letters := 0
		for _, r := range in {
			switch {
			case unicode.IsLetter(r):
				letters++
			case r == ' ' || r == '\'' || r == '-' || r == '.':
			default:
				return Null, false
			}
		}
		return Str(strings.Join(strings.Fields(in), " ")), letters >= 2
	}
	return Str(input), true
}

// parseMoney accepts 1,234.56 and 1.234,56: the last separator followed by
// one or two digits is the decimal one.
func parseMoney(s string) (float64, bool) {
	last := strings.LastIndexAny(s, ".,")
	if last >= 0 && len(s)-last-1 <= 2 {
		s = strings.NewReplacer(".", "", ",", "").Replace(s[:last]) + "." + s[last+1:]
	} else {
		s = strings.NewReplacer(".", "", ",", "").Replace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

var typeHint = map[string]string{
	"INTEGER": "a whole number", "NUMBER": "a number", "BOOLEAN": "yes or no",
	"DATE": "a date (e.g. 2025-03-14 or 14/03/2025)", "EMAIL": "an e-mail address",
	"MOBILE": "a mobile number", "URL": "a web address (https://...)", "UUID": "an id",
	"ZIPCODE": "a postal code", "MONEY": "an amount", "HOUR": "a time (e.g. 14:30)", "NAME": "a name",
}

func reask(typ string, options []string) string {
	if len(options) > 0 {
		return "Please choose one of: " + strings.Join(options, ", ")
	}
	return "Please enter " + typeHint[typ] + "."
}
