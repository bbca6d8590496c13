// Which view the URL asks for: the district overview ('/'), or one school's devices
// ('/?school=<id>'). A query parameter, not a path, so the cloud's static files need no
// fallback route, and a link or a reload opens the same view. No DOM here: unit-tested.

const SCHOOL_PARAM = 'school';

/** The school the URL opens, or null for the overview. */
export function schoolFromSearch(search: string): string | null {
  const id = new URLSearchParams(search).get(SCHOOL_PARAM)?.trim();
  return id ? id : null;
}

/** `search` with the school set (or removed for null), other parameters (lang) kept. */
export function searchWithSchool(search: string, schoolId: string | null): string {
  const params = new URLSearchParams(search);
  if (schoolId === null) params.delete(SCHOOL_PARAM);
  else params.set(SCHOOL_PARAM, schoolId);
  const query = params.toString();
  return query === '' ? '' : `?${query}`;
}
