// The softphone's words, Spanish first (as Neotel's manual), then English. `?lang=en` or the
// browser's language picks; the choice is kept for the browser session.

const STRINGS = {
  es: {
    title: 'Softphone',
    device: 'Dispositivo', user: 'Usuario', password: 'Contraseña', login: 'Ingresar',
    logout: 'Salir', settings: 'Configuración', info: 'Información', sync: 'Sincronizar registro', openCrm: 'Abrir CRM',
    tabCall: 'Llamada', tabTransfer: 'Transferir', tabConference: 'Conferencia', tabMonitor: 'Monitoreo',
    tabRest: 'Descanso', tabCampaign: 'Campaña', tabMissed: 'Perdidas',
    missedNone: 'No hay llamadas perdidas.', missedPrivate: 'Número privado', missedCallBack: 'Devolver llamada',
    missedWhen: '{at} · esperó {secs} s · {reason}', missedCount: 'Perdidas ({count})',
    missedReason_abandoned: 'colgó esperando', missedReason_noAgent: 'sin agente',
    missedReason_ringOut: 'nadie atendió', missedReason_outsideHours: 'fuera de horario',
    missedReason_serverRestart: 'cortada por un reinicio',
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
    errInvalidNumber: 'Número inválido.', errInvalidDigits: 'Dígitos DTMF inválidos (0-9, *, #, A-D).',
    errNoTransferTarget: 'Elija a quién transferir.',
    dtmfSent: 'Tonos enviados: {digits}',
    sessionReplaced: 'Sesión iniciada en otra pestaña.', sessionClosed: 'Sesión cerrada.',
    linkPending: 'Vinculando el registro con la llamada…',
    errLink: 'No se pudo vincular el registro con la llamada: {reason}',
    errSyncId: 'El servidor no dio un identificador para el nuevo registro: {reason}',
    timerTalk: 'Conversación {time}', timerWrapUp: 'Gestión {time}', timerRinging: 'Sonando {time}',
    statePausedPlain: 'En descanso',
    rest_break: 'Descanso', rest_lunch: 'Almuerzo', rest_restroom: 'Baño', rest_training: 'Capacitación',
    rest_meeting: 'Reunión', rest_backoffice: 'Tareas administrativas', rest_noAnswer: 'Llamada no atendida',
    whyNoCall: 'No hay una llamada en curso.', whyNotConnected: 'La llamada todavía no está conectada.',
    whyInCall: 'No disponible durante una llamada.', whyWrapUp: 'Libere el contacto primero (Liberar o Categorizar y liberar).',
    whyNoCampaign: 'Ingrese a una campaña primero.', whyNotPaused: 'No está en descanso.',
    whyReleaseFirst: 'Use Liberar o Categorizar y liberar.', whyNoContact: 'No hay un contacto en pantalla.',
    whyScheduled: 'La llamada ya está agendada.', whyNoTarget: 'Elija a quién transferir.',
    whyTransferInProgress: 'Hay una transferencia en curso.', whyTransferNotAnswered: 'El destino todavía no atendió.',
    whyNoAttended: 'No hay una transferencia atendida en curso.', whyNoConference: 'No hay una conferencia en curso.',
    whyInConference: 'La conferencia ya empezó.', whyNoParticipants: 'No hay participantes.',
    whyChooseAgent: 'Elija un agente en llamada.', whyNotMonitoring: 'No está monitoreando.',
    whyHasCampaign: 'Ya está en una campaña.', whyNotLoggedIn: 'Sin sesión telefónica.',
    whyChooseUser: 'Elija un usuario.', whyNoCrm: 'Disponible cuando Salesforce no recibe contactos o en descanso.',
    errInvalidDate: 'Elija una fecha y hora futuras.', errChooseCategory: 'Elija categoría y subcategoría.',
    errGeneric: 'Error: {message}',
    errRefused: 'El servidor rechazó el pedido (código {code}).',
    errSettings: 'Opción del centro de llamadas con formato inválido: {value}',
    clickToDialSearch: 'Buscando el registro en la telefonía…',
    callDialing: 'marcando', callQueued: 'en cola', callRinging: 'sonando', callConnected: 'conectada',
    callEnded: 'finalizada',
  },
  en: {
    title: 'Softphone',
    device: 'Device', user: 'User', password: 'Password', login: 'Log in',
    logout: 'Log out', settings: 'Settings', info: 'Information', sync: 'Sync record', openCrm: 'Open CRM',
    tabCall: 'Call', tabTransfer: 'Transfer', tabConference: 'Conference', tabMonitor: 'Monitor',
    tabRest: 'Rest', tabCampaign: 'Campaign', tabMissed: 'Missed',
    missedNone: 'No missed calls.', missedPrivate: 'Private number', missedCallBack: 'Call back',
    missedWhen: '{at} · waited {secs} s · {reason}', missedCount: 'Missed ({count})',
    missedReason_abandoned: 'hung up waiting', missedReason_noAgent: 'no agent',
    missedReason_ringOut: 'nobody answered', missedReason_outsideHours: 'outside hours',
    missedReason_serverRestart: 'cut off by a restart',
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
    errInvalidNumber: 'Invalid number.', errInvalidDigits: 'Invalid DTMF digits (0-9, *, #, A-D).',
    errNoTransferTarget: 'Choose whom to transfer to.',
    dtmfSent: 'Tones sent: {digits}',
    sessionReplaced: 'Session started in another tab.', sessionClosed: 'Session closed.',
    linkPending: 'Linking the record to the call…',
    errLink: 'Could not link the record to the call: {reason}',
    errSyncId: 'The server gave no id for the new record: {reason}',
    timerTalk: 'Talking {time}', timerWrapUp: 'Wrap-up {time}', timerRinging: 'Ringing {time}',
    statePausedPlain: 'Resting',
    rest_break: 'Break', rest_lunch: 'Lunch', rest_restroom: 'Restroom', rest_training: 'Training',
    rest_meeting: 'Meeting', rest_backoffice: 'Back office', rest_noAnswer: 'Missed call',
    whyNoCall: 'No call in progress.', whyNotConnected: 'The call is not connected yet.',
    whyInCall: 'Not available during a call.', whyWrapUp: 'Release the contact first (Release or Categorize and release).',
    whyNoCampaign: 'Join a campaign first.', whyNotPaused: 'Not resting.',
    whyReleaseFirst: 'Use Release or Categorize and release.', whyNoContact: 'No contact on screen.',
    whyScheduled: 'A callback is already scheduled.', whyNoTarget: 'Choose whom to transfer to.',
    whyTransferInProgress: 'A transfer is in progress.', whyTransferNotAnswered: 'The target has not answered yet.',
    whyNoAttended: 'No attended transfer in progress.', whyNoConference: 'No conference in progress.',
    whyInConference: 'The conference has started.', whyNoParticipants: 'No participants.',
    whyChooseAgent: 'Choose an agent who is in a call.', whyNotMonitoring: 'Not monitoring.',
    whyHasCampaign: 'Already in a campaign.', whyNotLoggedIn: 'No telephony session.',
    whyChooseUser: 'Choose a user.', whyNoCrm: 'Available when Salesforce takes no contacts, or when resting.',
    errInvalidDate: 'Choose a future date and time.', errChooseCategory: 'Choose a category and subcategory.',
    errGeneric: 'Error: {message}',
    errRefused: 'The server refused the request (code {code}).',
    errSettings: 'Malformed call-center option: {value}',
    clickToDialSearch: 'Looking the record up in the telephony CRM…',
    callDialing: 'dialing', callQueued: 'queued', callRinging: 'ringing', callConnected: 'connected',
    callEnded: 'ended',
  },
};

// The server's error codes (`{"error": {"code"}}`) in the agent's words: its own messages are
// English and written for developers.
const ERRORS = {
  es: {
    invalid_credentials: 'Dispositivo, usuario o contraseña incorrectos.',
    unknown_missed_call: 'Esa llamada perdida no existe.',
    not_your_missed_call: 'Esa llamada perdida es de otra campaña.',
    missed_call_closed: 'Esa llamada perdida ya fue atendida.',
    no_number: 'La llamada vino de un número privado: no hay a quién llamar.',
    already_logged_in: 'El usuario ya ingresó en otro dispositivo: salga allí primero.',
    device_in_use: 'Otro usuario está usando ese dispositivo.',
    empty_device: 'Indique el dispositivo.',
    not_logged_in: 'No hay sesión telefónica: ingrese de nuevo.',
    no_active_call: 'No hay una llamada en curso.',
    no_contact_on_screen: 'No hay un contacto en pantalla.',
    invalid_state: 'No se puede hacer en el estado actual.',
    unknown_campaign: 'Campaña desconocida.',
    not_outbound: 'La campaña no es saliente.',
    unknown_queue: 'Cola desconocida.',
    unknown_call: 'Llamada desconocida.',
    unknown_device: 'Dispositivo desconocido.',
    unknown_user: 'Usuario desconocido.',
    user_not_available: 'Ese usuario no está disponible.',
    unknown_rest_state: 'Estado de descanso desconocido.',
    unknown_disposition: 'Categoría o subcategoría desconocida.',
    disposition_needs_callback: 'Esa categoría pide agendar una llamada.',
    not_your_call: 'Esa llamada no es suya.',
    forbidden: 'No tiene permiso para esta acción.',
    empty_number: 'Indique un número.',
    invalid_number: 'Número inválido.',
    invalid_dtmf: 'Dígitos DTMF inválidos (0-9, *, #, A-D).',
    callback_in_past: 'Elija una fecha y hora futuras.',
    no_transfer: 'No hay una transferencia en curso.',
    transfer_in_progress: 'Ya hay una transferencia en curso.',
    transfer_not_answered: 'El destino todavía no atendió.',
    attended_not_supported: 'La central no admite transferencias atendidas.',
    not_in_conference: 'La llamada no está en conferencia.',
    in_conference: 'La llamada ya está en conferencia.',
    not_monitoring: 'No está monitoreando.',
    self_target: 'No puede elegirse a sí mismo.',
    no_callback_campaign: 'La campaña no admite agendas.',
    no_campaign: 'Ingrese a una campaña primero.',
    telephony_unavailable: 'La central telefónica no puede atender el pedido ahora. Intente en un momento.',
    not_saved: 'El cambio se hizo pero todavía no se guardó: no lo repita.',
    store_unavailable: 'El servidor no puede guardar ahora. Intente en un momento.',
    database_unavailable: 'El servidor no puede guardar ahora. Intente en un momento.',
    no_call: 'No hay una llamada en curso.',
    not_current_call: 'Esa llamada ya terminó.',
    invalid_value: 'El servidor rechazó un dato inválido.',
    not_found: 'No se encontró.',
    salesforce_not_configured: 'El servidor no tiene acceso a Salesforce.',
    salesforce_unavailable: 'Salesforce no responde ahora.',
    salesforce_error: 'Salesforce rechazó el pedido.',
    too_many_attempts: 'Demasiados intentos. Espere un momento y vuelva a intentar.',
    unreachable: 'No se puede contactar al servidor. Revise la conexión y vuelva a intentar.',
  },
  en: {
    invalid_credentials: 'Wrong device, user or password.',
    unknown_missed_call: 'That missed call does not exist.',
    not_your_missed_call: 'That missed call belongs to another campaign.',
    missed_call_closed: 'That missed call was already answered.',
    no_number: 'The call came from a private number: there is nobody to call.',
    already_logged_in: 'The user is logged in on another device: log out there first.',
    device_in_use: 'Another user is using that device.',
    empty_device: 'Enter the device.',
    not_logged_in: 'No telephony session: log in again.',
    no_active_call: 'No call in progress.',
    no_contact_on_screen: 'No contact on screen.',
    invalid_state: 'Not possible in the current state.',
    unknown_campaign: 'Unknown campaign.',
    not_outbound: 'The campaign is not outbound.',
    unknown_queue: 'Unknown queue.',
    unknown_call: 'Unknown call.',
    unknown_device: 'Unknown device.',
    unknown_user: 'Unknown user.',
    user_not_available: 'That user is not available.',
    unknown_rest_state: 'Unknown rest state.',
    unknown_disposition: 'Unknown category or subcategory.',
    disposition_needs_callback: 'That category needs a scheduled callback.',
    not_your_call: 'That call is not yours.',
    forbidden: 'You may not do this.',
    empty_number: 'Enter a number.',
    invalid_number: 'Invalid number.',
    invalid_dtmf: 'Invalid DTMF digits (0-9, *, #, A-D).',
    callback_in_past: 'Choose a future date and time.',
    no_transfer: 'No transfer in progress.',
    transfer_in_progress: 'A transfer is already in progress.',
    transfer_not_answered: 'The target has not answered yet.',
    attended_not_supported: 'The telephone system does not support attended transfers.',
    not_in_conference: 'The call is not a conference.',
    in_conference: 'The call is already a conference.',
    not_monitoring: 'Not monitoring.',
    self_target: 'You cannot pick yourself.',
    no_callback_campaign: 'The campaign takes no callbacks.',
    no_campaign: 'Join a campaign first.',
    telephony_unavailable: 'The telephone system cannot take the request right now. Try again shortly.',
    not_saved: 'The change was made but is not saved yet: do not repeat it.',
    store_unavailable: 'The server cannot save right now. Try again shortly.',
    database_unavailable: 'The server cannot save right now. Try again shortly.',
    no_call: 'No call in progress.',
    not_current_call: 'That call is over.',
    invalid_value: 'The server refused an invalid value.',
    not_found: 'Not found.',
    salesforce_not_configured: 'The server has no access to Salesforce.',
    salesforce_unavailable: 'Salesforce is not answering right now.',
    salesforce_error: 'Salesforce refused the request.',
    too_many_attempts: 'Too many attempts. Wait a moment and try again.',
    unreachable: 'Cannot reach the server. Check the connection and try again.',
  },
};

/// The sentence for a server error code in the current language, or null for an unknown code.
export function errorText(code) {
  return ERRORS[current][code] ?? null;
}

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
