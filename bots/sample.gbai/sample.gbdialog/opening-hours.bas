PARAM city AS STRING LIKE "Lisbon" DESCRIPTION "City of the store" ENUM ["Lisbon", "Porto"] OPTIONAL
DESCRIPTION "Tells the opening hours of an Acme Bikes store"

IF ISEMPTY(city) THEN
    city = "Lisbon"
END IF
SELECT CASE city
CASE "Porto"
    hours = "10:00 to 19:00, Monday to Saturday"
CASE ELSE
    hours = "09:00 to 18:00, every day"
END SELECT
TALK "Our ${city} store is open ${hours}."
RETURN hours
