// The softphone's words, Spanish first (as Neotel's manual), then English. `?lang=en` or the
// browser's language picks; the choice is kept for the browser session.

const STRINGS = {
  es: {
    title: 'Softphone',
    device: 'Dispositivo', user: 'Usuario', password: 'Contraseña', login: 'Ingresar',
    logout: 'Salir', settings: 'Configuración', info: 'Información', sync: 'Sincronizar registro',
    tabCall: 'Llamada', tabTransfer: 'Transferir', tabConference: 'Conferencia', tabMonitor: 'Monitoreo',
    tabRest: 'Descanso', tabCampaign: 'Campaña',
    number: 'Número', dial: 'Llamar', hangup: 'Cortar', keypad: 'Teclado', dtmf: 'DTMF',
    dtmfDigits: 'Dígitos', schedule: 'Agendar', scheduleAt: 'Fecha y hora', confirm: 'Confirmar',
    cancel: 'Cancelar', release: 'Liberar', releaseCategorized: 'Categorizar y liberar', category: 'Categoría',
    subcategory: 'Subcategoría', play: 'Disponible (Play)', close: 'Cerrar',
    campaign: 'Campaña', campaignLogin: 'Ingresar a la campaña', campaignLogout: 'Salir de la campaña',
    noCampaign: 'Sin campaña', systemStates: 'Estados del sistema', customStates: 'Estados personalizados',
    transferPhones: 'Teléfonos de transferencia', manualNumber: 'Número manual', toUser: 'A un usuario',
    toQueue: 'A una cola', toCampaign: 'A otra campaña', direct: 'Directa', attended: 'Atendida',
    completeTransfer: 'Completar transferencia', endTransfer: 'Fin de transferencia',
    conferenceStart: 'Iniciar', conferenceEnd: 'Finalizar', inviteExternal: 'Invitar teléfono',
    inviteUser: 'Invitar usuario', kickAll: 'Expulsar a todos', participants: 'Participantes',
    monitorListen: 'Escuchar', monitorAssist: 'Asistir', monitorEnd: 'Fin', monitoring: 'Monitoreando a {user} ({mode})',
    width: 'Ancho (px)', height: 'Alto (px)', autoMinimize: 'Minimizar al abrir nuevo registro o búsqueda',
    language: 'Idioma', apply: 'Aplicar',
    lastCallId: 'Identificador de última llamada', contactId: 'Identificador de contacto',
    baseId: 'Identificador de base de datos', crmId: 'Identificador de CRM', searchKey: 'Clave de búsqueda',
    record: 'Registro', none: '—',
    stateLoggedOut: 'Desconectado', stateLoggedIn: 'Conectado sin campaña', stateAvailable: 'Disponible',
    statePaused: 'En descanso: {reason}', stateRinging: 'Sonando', statePreviewing: 'Vista previa',
    stateInCall: 'En llamada', stateWrapUp: 'Gestión', stateMonitoring: 'Monitoreando',
    connecting: 'Conectando…', reconnecting: 'Reconectando en {secs} s…', connected: 'Conectado',
    newRecordWarning: 'Se abrió un nuevo registro. Al guardarlo se sincroniza con el softphone; si no, sincronícelo con el ícono junto al nombre o libere el contacto.',
    synced: 'Registro sincronizado: {name}', syncNotFound: 'Todavía no hay un registro guardado con este contacto. Guárdelo y vuelva a sincronizar, o libere el contacto.',
    autoRelease: 'Liberación automática en {secs} s',
    scheduled: 'Agenda registrada para {at}', categorized: 'Contacto categorizado',
    errServerUnreachable: 'No se puede contactar al servidor. Revise la conexión y vuelva a intentar.',
    errTelephonyDown: 'La central telefónica no está disponible: las acciones se rechazan hasta que vuelva.',
    telephonyBack: 'La central telefónica está disponible otra vez.',
    errSessionExpired: 'La sesión expiró. Ingrese de nuevo.',
    errInvalidCredentials: 'Dispositivo, usuario o contraseña incorrectos.',
    errTooManyAttempts: 'Demasiados intentos. Espere un momento y vuelva a intentar.',
    errOrigin: 'Esta página debe abrirse dentro de Salesforce (origen no permitido: {origin}). La telefonía funciona, pero sin mostrar registros.',
    errNoOrigin: 'Página abierta fuera de Salesforce: la telefonía funciona, pero sin mostrar registros.',
    errOpenCti: 'No se pudo cargar la API de Salesforce (Open CTI). La telefonía funciona, pero sin mostrar registros.',
    errSalesforce: 'Salesforce respondió con un error: {message}',
    errMalformed: 'Se ignoró un mensaje del servidor con formato inválido.',
    errInvalidNumber: 'Número inválido.', errInvalidDigits: 'Dígitos DTMF inválidos (0-9, *, #).',
    errInvalidDate: 'Elija una fecha y hora futuras.', errChooseCategory: 'Elija categoría y subcategoría.',
    errGeneric: 'Error: {message}',
    errSettings: 'Opción del centro de llamadas con formato inválido: {value}',
    clickToDialSearch: 'Buscando el registro en la telefonía…',
    callDialing: 'marcando', callQueued: 'en cola', callRinging: 'sonando', callConnected: 'conectada',
    callEnded: 'finalizada',
  },
  en: {
    title: 'Softphone',
    device: 'Device', user: 'User', password: 'Password', login: 'Log in',
    logout: 'Log out', settings: 'Settings', info: 'Information', sync: 'Sync record',
    tabCall: 'Call', tabTransfer: 'Transfer', tabConference: 'Conference', tabMonitor: 'Monitor',
    tabRest: 'Rest', tabCampaign: 'Campaign',
    number: 'Number', dial: 'Call', hangup: 'Hang up', keypad: 'Keypad', dtmf: 'DTMF',
    dtmfDigits: 'Digits', schedule: 'Schedule', scheduleAt: 'Date and time', confirm: 'Confirm',
    cancel: 'Cancel', release: 'Release', releaseCategorized: 'Categorize and release', category: 'Category',
    subcategory: 'Subcategory', play: 'Available (Play)', close: 'Close',
    campaign: 'Campaign', campaignLogin: 'Join campaign', campaignLogout: 'Leave campaign',
    noCampaign: 'No campaign', systemStates: 'System states', customStates: 'Custom states',
    transferPhones: 'Transfer phones', manualNumber: 'Manual number', toUser: 'To a user',
    toQueue: 'To a queue', toCampaign: 'To another campaign', direct: 'Direct', attended: 'Attended',
    completeTransfer: 'Complete transfer', endTransfer: 'End transfer',
    conferenceStart: 'Start', conferenceEnd: 'End', inviteExternal: 'Invite phone',
    inviteUser: 'Invite user', kickAll: 'Kick all', participants: 'Participants',
    monitorListen: 'Listen', monitorAssist: 'Assist', monitorEnd: 'End', monitoring: 'Monitoring {user} ({mode})',
    width: 'Width (px)', height: 'Height (px)', autoMinimize: 'Minimize when a new record or search opens',
    language: 'Language', apply: 'Apply',
    lastCallId: 'Last call id', contactId: 'Contact id', baseId: 'Database id', crmId: 'CRM id',
    searchKey: 'Search key', record: 'Record', none: '—',
    stateLoggedOut: 'Logged out', stateLoggedIn: 'Logged in, no campaign', stateAvailable: 'Available',
    statePaused: 'Resting: {reason}', stateRinging: 'Ringing', statePreviewing: 'Preview',
    stateInCall: 'In call', stateWrapUp: 'Wrap-up', stateMonitoring: 'Monitoring',
    connecting: 'Connecting…', reconnecting: 'Reconnecting in {secs} s…', connected: 'Connected',
    newRecordWarning: 'A new record was opened. Saving it syncs it with the softphone; otherwise sync it with the icon beside the name, or release the contact.',
    synced: 'Record synced: {name}', syncNotFound: 'No saved record carries this contact yet. Save it and sync again, or release the contact.',
    autoRelease: 'Automatic release in {secs} s',
    scheduled: 'Callback scheduled for {at}', categorized: 'Contact categorized',
    errServerUnreachable: 'Cannot reach the server. Check the connection and try again.',
    errTelephonyDown: 'The telephone system is unavailable: actions are refused until it is back.',
    telephonyBack: 'The telephone system is available again.',
    errSessionExpired: 'Your session expired. Please log in again.',
    errInvalidCredentials: 'Wrong device, user or password.',
    errTooManyAttempts: 'Too many attempts. Wait a moment and try again.',
    errOrigin: 'This page must be opened inside Salesforce (origin not allowed: {origin}). Telephony works, but no records are shown.',
    errNoOrigin: 'Page opened outside Salesforce: telephony works, but no records are shown.',
    errOpenCti: 'Could not load the Salesforce API (Open CTI). Telephony works, but no records are shown.',
    errSalesforce: 'Salesforce answered with an error: {message}',
    errMalformed: 'Ignored a malformed message from the server.',
    errInvalidNumber: 'Invalid number.', errInvalidDigits: 'Invalid DTMF digits (0-9, *, #).',
    errInvalidDate: 'Choose a future date and time.', errChooseCategory: 'Choose a category and subcategory.',
    errGeneric: 'Error: {message}',
    errSettings: 'Malformed call-center option: {value}',
    clickToDialSearch: 'Looking the record up in the telephony CRM…',
    callDialing: 'dialing', callQueued: 'queued', callRinging: 'ringing', callConnected: 'connected',
    callEnded: 'ended',
  },
};

export const LANGUAGES = ['es', 'en'];
let current = 'es';

export function pickLanguage() {
  const asked = new URLSearchParams(location.search).get('lang');
  let stored = null;
  try {
    stored = sessionStorage.getItem('ctibridge.lang');
  } catch {
    // Storage may be blocked in third-party frames: fall through.
  }
  const browser = (navigator.language || 'es').slice(0, 2).toLowerCase();
  const lang = [asked, stored, browser].find((l) => LANGUAGES.includes(l)) || 'es';
  setLanguage(lang);
  return lang;
}

export function setLanguage(lang) {
  current = LANGUAGES.includes(lang) ? lang : 'es';
  document.documentElement.lang = current;
  try {
    sessionStorage.setItem('ctibridge.lang', current);
  } catch {
    // ignore: the language is then per page load
  }
}

export function language() {
  return current;
}

export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.es[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? ''));
}

/// Fills every `data-i18n` (text), `data-i18n-placeholder` and `data-i18n-title` (title and
/// aria-label) under `root`.
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) {
    el.title = t(el.dataset.i18nTitle);
    el.setAttribute('aria-label', el.title);
  }
}
