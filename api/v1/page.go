package v1

// page renders one page of a list. Lists read limit+1 rows so that a row
// beyond the page says whether there is a next one: page renders the first
// limit rows, in order, and returns the cursor of the next page, the
// encoded sort key of the last row shown, or "" when rows hold the last
// page. limit must be positive (pageLimit sees to it).
func page[T, R any](rows []R, limit int, render func(R) (T, error), key func(R) string) ([]T, string, error) {
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(key(rows[limit-1]))
	}
	items := make([]T, 0, len(rows))
	for _, r := range rows {
		item, err := render(r)
		if err != nil {
			return nil, "", err
		}
		items = append(items, item)
	}
	return items, next, nil
}
