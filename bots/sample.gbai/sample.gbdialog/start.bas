' The sample bot: a greeting with a menu, a typed question, a tool and a
' knowledge base. Changing this file while `make run` is up reloads it.
USE KB "faq"
USE TOOL "opening-hours"
SET CONTEXT "company" AS "You work for Acme Bikes, a bicycle shop in Lisbon and Porto."

TALK "Hello! I am ${bot_name}, the Acme Bikes assistant."
HEAR choice AS "Opening hours", "Book a repair", "Ask a question"

SELECT CASE choice
CASE "Opening hours"
    ADD SUGGESTION TOOL "opening-hours" AS "Hours in Lisbon"
    TALK "Which city? We are in Lisbon and Porto."
CASE "Book a repair"
    TALK "How many bikes need a repair?"
    HEAR bikes AS INTEGER
    TALK "And your e-mail, so we can confirm?"
    HEAR email AS EMAIL
    SET USER MEMORY "email", email
    TALK "Thanks! ${bikes} bike(s) booked; we will write to ${email}."
CASE ELSE
    TALK "Ask me anything about our shop."
END SELECT
